/**
 * `minicontainer import FILE|- NAME[:TAG]`: a rootfs tarball (Alpine's
 * minirootfs, debootstrap output, `docker export`), plain, gzip or zstd,
 * becomes a one-layer image.
 * @module
 */

import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import { decompressed } from "../image/compression.ts";
import { type ImageConfig, ImageStore, normalizeRef } from "../image/store.ts";
import { DEFAULT_PATH } from "../container/default_spec.ts";
import { dataDir } from "../rootfs/default.ts";

/** The image store of this user. */
export function imageStore(): ImageStore {
  return new ImageStore(`${dataDir()}/images`);
}

/** The `import` command. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--help") {
    console.log(
      "Usage: minicontainer import FILE|- NAME[:TAG]\n\nImport a rootfs tarball (.tar, .tar.gz, .tar.zst) as an image.",
    );
    return 0;
  }
  if (argv.length !== 2) throw usageError("import takes a file (or - for stdin) and a name");
  const [file, name] = argv;
  const ref = normalizeRef(name);
  if (!/^[a-z0-9][a-z0-9._\/-]*:[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(ref)) {
    throw usageError(`"${name}" is not a valid image name (lowercase name, optional :tag)`);
  }
  let input: ReadableStream<Uint8Array>;
  try {
    input = file === "-" ? Deno.stdin.readable : (await Deno.open(file)).readable;
  } catch (e) {
    throw fromDenoError("import", file, e);
  }
  const store = imageStore();
  return await store.locked(async () => {
    const { diffId, size } = await store.addLayer(await decompressed(input), file);
    const config: ImageConfig = { Env: [`PATH=${DEFAULT_PATH}`], Cmd: ["/bin/sh"] };
    const created = new Date().toISOString();
    const configJson = JSON.stringify({
      architecture: Deno.build.arch === "x86_64" ? "amd64" : "arm64",
      os: "linux",
      config,
      rootfs: { type: "layers", diff_ids: [diffId] },
      created,
    });
    const id = `sha256:${
      Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(configJson))),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("")
    }`;
    store.register({ ref, id, layers: [diffId], config, created, size });
    if (size === 0 && !store.hasLayer(diffId)) {
      throw new ContainerError("import", file, undefined, "nothing was imported");
    }
    console.log(id);
    return 0;
  });
}
