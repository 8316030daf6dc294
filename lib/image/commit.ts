/**
 * A directory of changes as a new image layer, and an image made of a
 * parent and that layer: what `commit` does with a container's overlayfs
 * upper directory (its whiteouts become OCI ones) and what `build` does
 * with each step's.
 * @module
 */

import { createHash } from "node:crypto";
import {
  type ConfigDoc,
  type Descriptor,
  imageConfig,
  imageManifest,
  ociArch,
  putBlobStream,
  unpackBlob,
} from "./blobs.ts";
import type { ImageStore, Lease, LocalImage } from "./store.ts";
import { writeTree } from "./tar_write.ts";

/**
 * Tars `dir` (overlayfs whiteouts and opaque directories as OCI ones),
 * stores it gzip'ed as a layer blob and unpacked as a layer; resolves to
 * its descriptor and diff id.
 */
export async function layerFromDir(
  store: ImageStore,
  dir: string | number,
  lease: Lease,
): Promise<{ desc: Descriptor; diffId: string }> {
  const uncompressed = createHash("sha256");
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const stored = putBlobStream(
    store.root,
    readable.pipeThrough(
      new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    ),
  );
  const writer = writable.getWriter();
  try {
    await writeTree(dir, async (chunk) => {
      uncompressed.update(chunk);
      await writer.write(chunk.slice());
    }, { whiteouts: true, oneMount: true });
    await writer.close();
  } catch (e) {
    await writer.abort(e).catch(() => {});
    await stored.catch(() => {});
    throw e;
  }
  const blob = await stored;
  const diffId = `sha256:${uncompressed.digest("hex")}`;
  await unpackBlob(store, blob.digest, "the new layer", diffId, lease);
  return {
    desc: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...blob },
    diffId,
  };
}

/** The config document and layer descriptors of `parent` (none: an empty image, FROM scratch). */
export function parentOf(
  store: ImageStore,
  parent: LocalImage | undefined,
): { doc: ConfigDoc; layers: Descriptor[] } {
  if (!parent) {
    return {
      doc: {
        architecture: ociArch(),
        os: "linux",
        config: {},
        rootfs: { type: "layers", diff_ids: [] },
      },
      layers: [],
    };
  }
  const doc = imageConfig(store.root, parent);
  return { doc, layers: imageManifest(store.root, parent).manifest.layers };
}

/** `doc` with a step added: its history entry, and its layer when it made one. */
export function addStep(
  doc: ConfigDoc,
  step: { createdBy: string; comment?: string; author?: string; created?: string; diffId?: string },
): ConfigDoc {
  const created = step.created ?? new Date().toISOString();
  // An image without history gets one entry a layer, so history and layers stay aligned.
  const history = doc.history ?? doc.rootfs.diff_ids.map(() => ({ created: doc.created }));
  return {
    ...doc,
    created,
    ...(step.author ? { author: step.author } : {}),
    rootfs: {
      type: "layers",
      diff_ids: step.diffId ? [...doc.rootfs.diff_ids, step.diffId] : doc.rootfs.diff_ids,
    },
    history: [
      ...history,
      {
        created,
        created_by: step.createdBy,
        ...(step.comment ? { comment: step.comment } : {}),
        ...(step.author ? { author: step.author } : {}),
        ...(step.diffId ? {} : { empty_layer: true }),
      },
    ],
  };
}
