/**
 * `minicontainer import FILE|- NAME[:TAG]`: a rootfs tarball (Alpine's
 * minirootfs, debootstrap output, `docker export`), plain, gzip or zstd,
 * becomes a one-layer image.
 * @module
 */

import { print } from "./output.ts";
import { fromDenoError, usageError } from "../errors.ts";
import { ociArch, putBlobStream, storedLayerType, storeImage, unpackBlob } from "../image/blobs.ts";
import { normalizeRef } from "../image/store.ts";
import { DEFAULT_PATH } from "../container/default_spec.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore } from "./image.ts";

const FLAGS: FlagDef[] = [{ name: "help", help: "Show this help" }];

/** The `import` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer import FILE|- NAME[:TAG]\n\nImport a rootfs tarball (.tar, .tar.gz, .tar.zst; - reads stdin) as an image.\n\nOptions:\n${
        flagHelp(FLAGS)
      }`,
    );
    return 0;
  }
  if (rest.length !== 2) throw usageError("import takes a file (or - for stdin) and a name");
  const [file, name] = rest;
  const ref = normalizeRef(name);
  if (!/^[a-z0-9][a-z0-9._\/-]*(:[0-9]+\/[a-z0-9._\/-]+)?:[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(ref)) {
    throw usageError(`"${name}" is not a valid image name (lowercase name, optional :tag)`);
  }
  let input: ReadableStream<Uint8Array>;
  try {
    input = file === "-" ? Deno.stdin.readable : (await Deno.open(file)).readable;
  } catch (e) {
    throw fromDenoError("import", file, e);
  }
  const store = imageStore();
  const lease = store.lease();
  try {
    // The tarball is kept as it came (plain, gzip or zstd): it is the image's layer blob.
    const blob = await putBlobStream(store.root, input);
    const { diffId } = await unpackBlob(store, blob.digest, file, undefined, lease);
    const created = new Date().toISOString();
    const image = await storeImage(store, [ref], {
      created,
      architecture: ociArch(),
      os: "linux",
      config: { Env: [`PATH=${DEFAULT_PATH}`], Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created, created_by: `minicontainer import ${file}`, comment: "Imported" }],
    }, [{ mediaType: storedLayerType(store.root, blob.digest), ...blob }]);
    print(image.id);
    return 0;
  } finally {
    lease.release();
  }
}
