/**
 * `minicontainer import FILE|- NAME[:TAG]`: a rootfs tarball (Alpine's
 * minirootfs, debootstrap output, `docker export`), plain, gzip or zstd,
 * becomes a one-layer image.
 * @module
 */

import { print } from "./output.ts";
import { fromDenoError, usageError } from "../errors.ts";
import { decompressed } from "../image/compression.ts";
import { type ImageConfig, normalizeRef } from "../image/store.ts";
import { DEFAULT_PATH } from "../container/default_spec.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore } from "./image.ts";

const FLAGS: FlagDef[] = [{ name: "help", help: "Show this help" }];

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return `sha256:${
    Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

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
    const { diffId, size } = await store.addLayer(
      await decompressed(input),
      file,
      undefined,
      lease,
    );
    const config: ImageConfig = { Env: [`PATH=${DEFAULT_PATH}`], Cmd: ["/bin/sh"] };
    const created = new Date().toISOString();
    const id = await sha256(JSON.stringify({
      architecture: Deno.build.arch === "x86_64" ? "amd64" : "arm64",
      os: "linux",
      config,
      rootfs: { type: "layers", diff_ids: [diffId] },
      created,
    }));
    await store.register({ ref, id, layers: [diffId], config, created, size });
    print(id);
    return 0;
  } finally {
    lease.release();
  }
}
