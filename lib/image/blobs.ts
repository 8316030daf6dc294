/**
 * The store's blobs, kept as pulled, loaded or built (compressed layers,
 * configs, manifests) under blobs/sha256/<hex>: an image's identity is
 * these bytes, so `save` writes them as they are, `push` sends them as they
 * are, and the image id (the config's digest) and manifest digest survive
 * any round trip. Each blob is written beside its place and renamed into it.
 * @module
 */

import { createHash } from "node:crypto";
import { ContainerError, fromDenoError } from "../errors.ts";
import { decompressed } from "./compression.ts";
import type { ImageStore, Lease, LocalImage } from "./store.ts";

/** A content descriptor (OCI image-spec). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** An image manifest as stored (OCI or docker v2 schema 2). */
export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** An image config (OCI image-spec), the parts this runtime reads or writes. */
export interface ConfigDoc {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  config?: LocalImage["config"] & {
    ExposedPorts?: Record<string, unknown>;
    Labels?: Record<string, string>;
    Volumes?: Record<string, unknown>;
    Healthcheck?: unknown;
    Shell?: string[];
  };
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: {
    created?: string;
    created_by?: string;
    comment?: string;
    empty_layer?: boolean;
  }[];
}

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Where blob `digest` lives in the store at `root`. */
export function blobPath(root: string, digest: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new ContainerError("find blob", digest, undefined, "not a sha256 digest");
  }
  return `${root}/blobs/sha256/${digest.slice(7)}`;
}

export function hasBlob(root: string, digest: string): boolean {
  try {
    return Deno.statSync(blobPath(root, digest)).isFile;
  } catch {
    return false;
  }
}

/** A stored blob's bytes (configs and manifests: small). */
export function readBlob(root: string, digest: string): Uint8Array {
  try {
    return Deno.readFileSync(blobPath(root, digest));
  } catch (e) {
    throw fromDenoError("read blob", digest, e);
  }
}

function ensureDir(root: string): string {
  const dir = `${root}/blobs/sha256`;
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw fromDenoError("create blob directory", dir, e);
  }
  return dir;
}

/** Stores `bytes`; resolves to their digest. */
export function putBlob(root: string, bytes: Uint8Array): string {
  const digest = sha256(bytes);
  if (hasBlob(root, digest)) return digest;
  const dir = ensureDir(root);
  const tmp = `${dir}/.tmp-${crypto.randomUUID()}`;
  try {
    Deno.writeFileSync(tmp, bytes);
    Deno.renameSync(tmp, blobPath(root, digest));
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not written */ }
    throw fromDenoError("write blob", digest, e);
  }
  return digest;
}

/**
 * Stores the bytes of `input` as a blob, verified against `expected` when
 * given (a mismatch keeps nothing); resolves to its digest and size.
 */
export async function putBlobStream(
  root: string,
  input: ReadableStream<Uint8Array>,
  expected?: string,
): Promise<{ digest: string; size: number }> {
  if (expected && hasBlob(root, expected)) {
    await input.cancel();
    return { digest: expected, size: Deno.statSync(blobPath(root, expected)).size };
  }
  const dir = ensureDir(root);
  const tmp = `${dir}/.tmp-${crypto.randomUUID()}`;
  const hash = createHash("sha256");
  let size = 0;
  try {
    const file = await Deno.open(tmp, { create: true, write: true, truncate: true });
    try {
      for await (const chunk of input) {
        hash.update(chunk);
        size += chunk.length;
        for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
      }
    } finally {
      file.close();
    }
    const digest = `sha256:${hash.digest("hex")}`;
    if (expected && digest !== expected) {
      throw new ContainerError(
        "verify blob",
        expected,
        undefined,
        `its content hashes to ${digest}`,
      );
    }
    Deno.renameSync(tmp, blobPath(root, digest));
    return { digest, size };
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* renamed or never made */ }
    throw fromDenoError("write blob", expected ?? dir, e);
  }
}

/** Moves a verified file (on the store's file system) into place as blob `digest`. */
export function adoptBlob(root: string, path: string, digest: string): void {
  ensureDir(root);
  try {
    Deno.renameSync(path, blobPath(root, digest));
  } catch (e) {
    throw fromDenoError("store blob", digest, e);
  }
}

/** The layer media type for a blob, by its first bytes (gzip, zstd or a plain tar). */
export function layerMediaType(head: Uint8Array): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return "application/vnd.oci.image.layer.v1.tar+gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

/** The media type of stored layer blob `digest`. */
export function storedLayerType(root: string, digest: string): string {
  const file = Deno.openSync(blobPath(root, digest));
  try {
    const head = new Uint8Array(4);
    file.readSync(head);
    return layerMediaType(head);
  } finally {
    file.close();
  }
}

/** Unpacks stored layer blob `digest` into the store's layers (checked against `diffId` when given). */
export async function unpackBlob(
  store: ImageStore,
  digest: string,
  what: string,
  diffId: string | undefined,
  lease: Lease,
): Promise<{ diffId: string; size: number }> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(blobPath(store.root, digest));
  } catch (e) {
    throw fromDenoError("read blob", digest, e);
  }
  return await store.addLayer(await decompressed(file.readable), what, diffId, lease);
}

/** The stored manifest of `image`; a clear error for images stored before blobs were kept. */
export function imageManifest(
  root: string,
  image: LocalImage,
): { bytes: Uint8Array; manifest: Manifest; digest: string } {
  if (!image.manifest || !hasBlob(root, image.manifest)) {
    throw new ContainerError(
      "read image",
      image.ref,
      undefined,
      "it was stored before images kept their blobs; pull, load or import it again",
    );
  }
  const bytes = readBlob(root, image.manifest);
  return { bytes, manifest: JSON.parse(new TextDecoder().decode(bytes)), digest: image.manifest };
}

/** The stored config document of `image`. */
export function imageConfig(root: string, image: LocalImage): ConfigDoc {
  return JSON.parse(new TextDecoder().decode(readBlob(root, image.id)));
}

/** Stores an OCI manifest of stored config `config` and `layers`; resolves to its digest. */
export function putManifest(root: string, config: Uint8Array, layers: Descriptor[]): string {
  const configDigest = putBlob(root, config);
  return putBlob(
    root,
    new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers,
    })),
  );
}

/**
 * Writes `config` and a manifest of `layers` as blobs and registers the
 * image under `refs` (none: a dangling image, named by its id). The layers'
 * blobs must be stored and their diff ids unpacked. Resolves to the image.
 */
export async function storeImage(
  store: ImageStore,
  refs: string[],
  config: ConfigDoc,
  layers: Descriptor[],
  intermediate = false,
): Promise<LocalImage> {
  const bytes = new TextEncoder().encode(JSON.stringify(config));
  const manifest = putManifest(store.root, bytes, layers);
  return await registerImage(store, refs, sha256(bytes), config, manifest, undefined, intermediate);
}

/** Registers an image whose config and manifest blobs are stored. */
export async function registerImage(
  store: ImageStore,
  refs: string[],
  id: string,
  config: ConfigDoc,
  manifest: string,
  repoDigest?: string,
  intermediate = false,
): Promise<LocalImage> {
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (!refs.length) {
    const named = store.find(id);
    if (named) return named; // already known by a name: not dangling
  }
  let image: LocalImage | undefined;
  for (const ref of refs.length ? refs : [id]) {
    image = {
      ref,
      id,
      layers: diffIds,
      config: config.config ?? {},
      created: config.created ?? new Date(0).toISOString(),
      size: [...new Set(diffIds)].reduce((sum, d) => sum + store.layerSize(d), 0),
      manifest,
      ...(repoDigest ? { digest: repoDigest } : {}),
      ...(intermediate && !refs.length ? { intermediate } : {}),
    };
    await store.register(image);
  }
  return image!;
}

/** This machine's architecture as OCI names it. */
export function ociArch(): string {
  return Deno.build.arch === "x86_64" ? "amd64" : "arm64";
}
