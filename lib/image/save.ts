/**
 * `save`: images as an OCI image layout in a tar (with docker's
 * manifest.json beside it), which `load` (ours, docker's, podman's,
 * skopeo's oci-archive:) reads back. The blobs are the store's, byte for
 * byte, and the tar's metadata is fixed: saving an image twice gives the
 * same bytes, and loading it keeps its id and manifest digest.
 * @module
 */

import { ContainerError } from "../errors.ts";
import { blobPath, imageManifest, OCI_MANIFEST } from "./blobs.ts";
import type { ImageStore } from "./store.ts";
import { type FixedEntry, writeFixed } from "./tar_write.ts";

/** How an image's ref shows in a layout: docker's name:tag, none for a dangling or digest ref. */
function tagOf(ref: string): { name?: string; tag?: string } {
  if (ref.startsWith("sha256:") || ref.includes("@")) return {};
  const colon = ref.lastIndexOf(":");
  return { name: ref, tag: ref.slice(colon + 1) };
}

/** Writes `refs` from `store` as an OCI layout tar to `write`. */
export async function saveImages(
  store: ImageStore,
  refs: string[],
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  const manifests = [];
  const dockerManifest = [];
  const blobs = new Set<string>();
  for (const ref of refs) {
    const image = store.find(ref);
    if (!image) throw new ContainerError("save", ref, undefined, "no such image");
    const { bytes, manifest, digest } = imageManifest(store.root, image);
    for (const d of [digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      blobs.add(d);
    }
    const { name, tag } = tagOf(image.ref);
    manifests.push({
      mediaType: manifest.mediaType ?? OCI_MANIFEST,
      digest,
      size: bytes.length,
      ...(name
        ? {
          annotations: {
            "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": tag,
          },
        }
        : {}),
    });
    dockerManifest.push({
      Config: `blobs/sha256/${manifest.config.digest.slice(7)}`,
      RepoTags: name ? [name] : null,
      Layers: manifest.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
    });
  }
  const enc = new TextEncoder();
  const entries: FixedEntry[] = [
    { name: "blobs/" },
    { name: "blobs/sha256/" },
    ...[...blobs].sort().map((d) => ({
      name: `blobs/sha256/${d.slice(7)}`,
      path: blobPath(store.root, d),
    })),
    {
      name: "index.json",
      data: enc.encode(JSON.stringify({ schemaVersion: 2, manifests })),
    },
    { name: "manifest.json", data: enc.encode(JSON.stringify(dockerManifest)) },
    { name: "oci-layout", data: enc.encode('{"imageLayoutVersion":"1.0.0"}') },
  ];
  await writeFixed(entries, write);
}
