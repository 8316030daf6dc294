/**
 * `save`: images as an OCI image layout in a tar, which `load` (ours,
 * podman's, skopeo's oci-archive:) reads back. Layers are written from the
 * store's unpacked directories, so their digests are new ones; the config
 * is rewritten to match.
 * @module
 */

import { createHash } from "node:crypto";
import { ContainerError } from "../errors.ts";
import { hashingStream, type ImageStore } from "./store.ts";
import { writeTree } from "./tar_write.ts";

async function writeBlob(
  dir: string,
  bytes: Uint8Array,
): Promise<{ digest: string; size: number }> {
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  await Deno.writeFile(`${dir}/blobs/sha256/${digest.slice(7)}`, bytes);
  return { digest, size: bytes.length };
}

/** Tars and gzips one layer directory into the layout; its blob and diff id. */
async function layerBlob(dir: string, layerDir: string) {
  const uncompressed = createHash("sha256");
  const compressed = hashingStream();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const tmp = `${dir}/blobs/sha256/.layer-${crypto.randomUUID()}`;
  const file = await Deno.open(tmp, { create: true, write: true });
  const done = readable
    .pipeThrough(
      new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    )
    .pipeThrough(compressed.stream)
    .pipeTo(file.writable);
  const writer = writable.getWriter();
  await writeTree(layerDir, async (chunk) => {
    uncompressed.update(chunk);
    await writer.write(chunk.slice());
  }, { whiteouts: true });
  await writer.close();
  await done;
  const digest = compressed.digest();
  Deno.renameSync(tmp, `${dir}/blobs/sha256/${digest.slice(7)}`);
  return { digest, size: compressed.bytes(), diffId: `sha256:${uncompressed.digest("hex")}` };
}

/** Writes `refs` from `store` as an OCI layout tar to `write`. */
export async function saveImages(
  store: ImageStore,
  refs: string[],
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  const dir = store.tempDir("save");
  try {
    Deno.mkdirSync(`${dir}/blobs/sha256`, { recursive: true });
    const manifests = [];
    for (const ref of refs) {
      const image = store.find(ref);
      if (!image) throw new ContainerError("save", ref, undefined, "no such image");
      const layers = [];
      for (const l of image.layers) layers.push(await layerBlob(dir, store.layerDir(l)));
      const config = await writeBlob(
        dir,
        new TextEncoder().encode(JSON.stringify({
          architecture: Deno.build.arch === "x86_64" ? "amd64" : "arm64",
          os: "linux",
          created: image.created,
          config: image.config,
          rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        })),
      );
      const manifest = await writeBlob(
        dir,
        new TextEncoder().encode(JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
          layers: layers.map((l) => ({
            mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
            digest: l.digest,
            size: l.size,
          })),
        })),
      );
      const tag = image.ref.slice(image.ref.lastIndexOf(":") + 1);
      manifests.push({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: {
          "io.containerd.image.name": image.ref,
          "org.opencontainers.image.ref.name": tag,
        },
      });
    }
    Deno.writeTextFileSync(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
    Deno.writeTextFileSync(`${dir}/index.json`, JSON.stringify({ schemaVersion: 2, manifests }));
    await writeTree(dir, write);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
