/**
 * The local image store, content-addressed: each layer is extracted once,
 * into layers/<first 16 hex of its diff id>, and shared by every image that
 * has it; index.json maps references (name:tag) to images (config, layer
 * diff ids). Writes are atomic: a layer is unpacked beside its place and
 * renamed into it, the index is written then renamed, and writers hold a
 * lock, so a crash leaves nothing marked complete that is not.
 * @module
 */

import { createHash } from "node:crypto";
import { ContainerError, fromDenoError } from "../errors.ts";
import { extractLayer } from "./extract.ts";
import {
  findImage,
  type Index,
  layerDir,
  layerReady,
  type LocalImage,
  readIndex,
} from "./index_file.ts";

export type { ImageConfig, LocalImage } from "./index_file.ts";
export { normalizeRef } from "./index_file.ts";

/** A sha256 that hashes a stream as it passes through. */
export function hashingStream(): {
  stream: TransformStream<Uint8Array, Uint8Array>;
  digest: () => string;
  bytes: () => number;
} {
  const hash = createHash("sha256");
  let bytes = 0;
  return {
    stream: new TransformStream({
      transform(chunk, controller) {
        hash.update(chunk);
        bytes += chunk.length;
        controller.enqueue(chunk);
      },
    }),
    digest: () => `sha256:${hash.digest("hex")}`,
    bytes: () => bytes,
  };
}

/** The image store under `root` (usually `${dataDir()}/images`). */
export class ImageStore {
  constructor(readonly root: string) {}

  /** Where a layer lives: a short name keeps overlayfs's option string small. */
  layerDir(diffId: string): string {
    return layerDir(this.root, diffId);
  }

  private get indexPath(): string {
    return `${this.root}/index.json`;
  }

  /** The index as stored (empty when there is none). */
  readIndex(): Index {
    return readIndex(this.root);
  }

  private writeIndex(index: Index): void {
    const tmp = `${this.indexPath}.tmp-${Deno.pid}`;
    Deno.writeTextFileSync(tmp, JSON.stringify(index, null, 2));
    Deno.renameSync(tmp, this.indexPath);
  }

  /** Runs `fn` holding the store's write lock. */
  async locked<T>(fn: () => T | Promise<T>): Promise<T> {
    try {
      Deno.mkdirSync(`${this.root}/layers`, { recursive: true, mode: 0o700 });
      Deno.mkdirSync(`${this.root}/containers`, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw fromDenoError("create image store", this.root, e);
    }
    const lock = await Deno.open(`${this.root}/lock`, { create: true, write: true });
    try {
      await lock.lock(true);
      return await fn();
    } finally {
      lock.close();
    }
  }

  /** Whether the layer with `diffId` is unpacked and complete. */
  hasLayer(diffId: string): boolean {
    return layerReady(this.root, diffId);
  }

  /**
   * Unpacks an uncompressed layer tar; resolves to its diff id. A layer
   * already in the store is not unpacked again. With `expected`, a layer
   * whose content hashes otherwise is refused and nothing is kept.
   */
  async addLayer(
    tar: ReadableStream<Uint8Array>,
    what: string,
    expected?: string,
  ): Promise<{ diffId: string; size: number }> {
    if (expected && this.hasLayer(expected)) {
      await tar.cancel();
      return { diffId: expected, size: 0 };
    }
    const tmp = Deno.makeTempDirSync({ dir: `${this.root}/layers`, prefix: ".unpack-" });
    try {
      Deno.chmodSync(tmp, 0o755);
      const hash = hashingStream();
      await extractLayer(tar.pipeThrough(hash.stream), tmp, what);
      const diffId = hash.digest();
      if (expected && expected !== diffId) {
        throw new ContainerError(
          "verify layer",
          what,
          undefined,
          `its content is ${diffId}, not ${expected}`,
        );
      }
      const dir = this.layerDir(diffId);
      if (this.hasLayer(diffId)) {
        Deno.removeSync(tmp, { recursive: true });
      } else {
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch { /* no half-made one */ }
        Deno.renameSync(tmp, dir);
        Deno.writeTextFileSync(`${dir}.ok`, `${diffId}\n`);
      }
      return { diffId, size: hash.bytes() };
    } catch (e) {
      try {
        Deno.removeSync(tmp, { recursive: true });
      } catch { /* gone */ }
      throw e;
    }
  }

  /** Records `image` under its ref (replacing an older image of that ref). */
  register(image: LocalImage): void {
    const index = this.readIndex();
    index.images[image.ref] = image;
    this.writeIndex(index);
  }

  /** The image a reference names (name, name:tag, or an id prefix). */
  find(ref: string): LocalImage | undefined {
    return findImage(this.root, ref);
  }

  /** Layers any image or any container root still uses. */
  private layersInUse(index: Index): Set<string> {
    const used = new Set<string>();
    for (const image of Object.values(index.images)) {
      for (const l of image.layers) used.add(this.layerDir(l));
    }
    try {
      for (const c of Deno.readDirSync(`${this.root}/containers`)) {
        try {
          const lower: string[] = JSON.parse(
            Deno.readTextFileSync(`${this.root}/containers/${c.name}/layers.json`),
          );
          for (const l of lower) used.add(l);
        } catch { /* being made or removed */ }
      }
    } catch { /* no containers */ }
    return used;
  }

  /** Removes `ref` from the index and the layers nothing else uses; resolves to the layers freed. */
  remove(ref: string): number {
    const index = this.readIndex();
    const image = this.find(ref);
    if (!image) throw new ContainerError("remove image", ref, undefined, "no such image");
    for (const [key, value] of Object.entries(index.images)) {
      if (value.id === image.id && (key === image.ref || ref.replace(/^sha256:/, "") !== ref)) {
        delete index.images[key];
      }
    }
    delete index.images[image.ref];
    this.writeIndex(index);
    return this.prune();
  }

  /** Removes every layer no image or container uses; resolves to how many. */
  prune(): number {
    const used = this.layersInUse(this.readIndex());
    let freed = 0;
    try {
      for (const e of Deno.readDirSync(`${this.root}/layers`)) {
        const path = `${this.root}/layers/${e.name}`;
        if (!e.isDirectory || e.name.startsWith(".") || used.has(path)) continue;
        Deno.removeSync(`${path}.ok`, { recursive: true });
        Deno.removeSync(path, { recursive: true });
        freed++;
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw fromDenoError("prune layers in", this.root, e);
      }
    }
    return freed;
  }
}
