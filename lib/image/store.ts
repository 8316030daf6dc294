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
import { writeFileAtomic } from "../atomic_file.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { diskUsage } from "../state/disk_usage.ts";
import { ownerAlive, ownerTag, reclaimOwnedDirs } from "../state/liveness.ts";
import { extractLayer } from "./extract.ts";
import {
  checkImageConfig,
  containerDirOf,
  findImage,
  type Index,
  layerDir,
  layerReady,
  type LocalImage,
  normalizeRef,
  readIndex,
} from "./index_file.ts";
import { removeImageRoot } from "./run_image.ts";

export type { ImageConfig, LocalImage } from "./index_file.ts";
export { imageStoreRoot, normalizeRef } from "./index_file.ts";

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

/**
 * Layers a pull, load or import is adding but has not registered yet: prune
 * keeps them while the process that holds the lease lives.
 */
export interface Lease {
  /** Marks the layer as in use by this lease. */
  add(diffId: string): void;
  /** Ends the lease. */
  release(): void;
}

/**
 * The image store under `root` (usually `imageStoreRoot()`). Every method
 * that changes it takes the store's lock itself (the lock `run` takes to
 * prepare a root), for the shortest time it can: downloads and unpacking run
 * outside it, only the renames and the index update inside.
 */
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
    writeFileAtomic(this.indexPath, JSON.stringify(index, null, 2), "write image index");
  }

  /** Creates the store's directories. */
  private ensure(): void {
    try {
      for (const d of ["layers", "leases", "blobs"]) {
        Deno.mkdirSync(`${this.root}/${d}`, { recursive: true, mode: 0o700 });
      }
    } catch (e) {
      throw fromDenoError("create image store", this.root, e);
    }
  }

  /**
   * Runs `fn` holding the store's write lock. Not re-entrant: `fn` must not
   * call the store's own changing methods, which lock by themselves.
   */
  async locked<T>(fn: () => T | Promise<T>): Promise<T> {
    this.ensure();
    let lock: Deno.FsFile;
    try {
      lock = await Deno.open(`${this.root}/lock`, { create: true, write: true });
    } catch (e) {
      throw fromDenoError("lock image store", this.root, e);
    }
    try {
      await lock.lock(true);
      return await fn();
    } finally {
      lock.close();
    }
  }

  /**
   * A new scratch directory inside the store (on its file system, out of
   * prune's way), named `.PREFIX-PID-START-RANDOM` after its owner so that
   * one a killed command left is reclaimed (see {@link reclaim}).
   */
  tempDir(prefix: string): string {
    this.ensure();
    try {
      return Deno.makeTempDirSync({
        dir: `${this.root}/layers`,
        prefix: `.${prefix}-${ownerTag()}-`,
      });
    } catch (e) {
      throw fromDenoError("create a scratch directory in", this.root, e);
    }
  }

  /**
   * A lease on layers about to be registered (see {@link Lease}), named
   * `PID-START.RANDOM.json` after its owner. Every pull, load and import
   * takes one first: what dead ones of them left is reclaimed here.
   */
  lease(): Lease {
    this.ensure();
    this.reclaim(false);
    const path = `${this.root}/leases/${ownerTag()}.${crypto.randomUUID().slice(0, 8)}.json`;
    const dirs: string[] = [];
    const write = () => writeFileAtomic(path, JSON.stringify(dirs), "write lease", { sync: false });
    write(); // at once: prune leaves downloads alone while any lease is live
    return {
      add: (diffId) => {
        dirs.push(this.layerDir(diffId));
        write();
      },
      release: () => {
        try {
          Deno.removeSync(path);
        } catch { /* none was written */ }
      },
    };
  }

  /** Whether the layer with `diffId` is unpacked and complete. */
  hasLayer(diffId: string): boolean {
    return layerReady(this.root, diffId);
  }

  /** Bytes of a stored layer's tar (0 when unknown). */
  layerSize(diffId: string): number {
    try {
      return Number(Deno.readTextFileSync(`${this.layerDir(diffId)}.ok`).split("\n")[1]) || 0;
    } catch {
      return 0;
    }
  }

  /**
   * Unpacks an uncompressed layer tar; resolves to its diff id and size. A
   * layer already in the store is not unpacked again. With `expected`, a
   * layer whose content hashes otherwise is refused and nothing is kept.
   * With `lease`, the layer is leased as it is committed.
   */
  async addLayer(
    tar: ReadableStream<Uint8Array>,
    what: string,
    expected?: string,
    lease?: Lease,
  ): Promise<{ diffId: string; size: number }> {
    this.ensure();
    if (expected && this.hasLayer(expected)) {
      await tar.cancel();
      lease?.add(expected);
      return { diffId: expected, size: this.layerSize(expected) };
    }
    const tmp = this.tempDir("unpack");
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
      await this.locked(() => {
        const dir = this.layerDir(diffId);
        lease?.add(diffId);
        if (this.hasLayer(diffId)) {
          Deno.removeSync(tmp, { recursive: true });
          return;
        }
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch { /* no half-made one */ }
        try {
          Deno.renameSync(tmp, dir);
        } catch (e) {
          throw fromDenoError("store layer", dir, e);
        }
        // The marker last, written whole: only a complete layer has one.
        try {
          writeFileAtomic(`${dir}.ok`, `${diffId}\n${hash.bytes()}\n`, "mark layer complete");
        } catch (e) {
          Deno.removeSync(dir, { recursive: true }); // no unmarked layer left to prune
          throw e;
        }
      });
      return { diffId, size: hash.bytes() };
    } catch (e) {
      try {
        Deno.removeSync(tmp, { recursive: true });
      } catch { /* gone */ }
      throw fromDenoError("unpack layer", what, e);
    }
  }

  /** Records `image` under its ref (replacing an older image of that ref). */
  async register(image: LocalImage): Promise<void> {
    checkImageConfig(image.ref, image.config);
    await this.locked(() => {
      for (const l of image.layers) {
        if (!this.hasLayer(l)) {
          throw new ContainerError(
            "register image",
            image.ref,
            undefined,
            `its layer ${l} is not in the store`,
          );
        }
      }
      const index = this.readIndex();
      index.images[image.ref] = image;
      this.writeIndex(index);
    });
  }

  /** The image a reference names (name, name:tag, or an id prefix). */
  find(ref: string): LocalImage | undefined {
    return findImage(this.root, ref);
  }

  /** Layers any image, container root or live lease still uses. */
  private layersInUse(index: Index): Set<string> {
    const used = new Set<string>();
    for (const image of Object.values(index.images)) {
      for (const l of image.layers) used.add(this.layerDir(l));
    }
    // Dead users were removed by reclaim() just before, under the same lock.
    const users = (dir: string) => {
      try {
        for (const e of Deno.readDirSync(dir)) {
          const file = e.isDirectory ? `${dir}/${e.name}/layers.json` : `${dir}/${e.name}`;
          if (!file.endsWith(".json")) continue;
          try {
            for (const l of JSON.parse(Deno.readTextFileSync(file)) as string[]) used.add(l);
          } catch { /* being made or removed */ }
        }
      } catch { /* none */ }
    };
    users(containerDirOf(this.root, ""));
    users(`${this.root}/leases`);
    return used;
  }

  /**
   * Removes what dead commands left in the store: scratch directories of
   * killed pulls, loads and imports (`layers/.unpack-*`, `.load-*`),
   * container directories whose owner is gone (a killed `run`, a removed
   * container's leftovers: they hold layers), leases of dead processes and
   * temporary files of dead writers; with `blobs`, also the downloaded and
   * partial blobs when no pull runs (every running pull holds a lease).
   * Never removes what a live command owns. Returns what went, with bytes.
   */
  reclaim(blobs: boolean): Reclaimed {
    const out: Reclaimed = { paths: [], bytes: 0 };
    const drop = (path: string) => {
      const bytes = diskUsage(path);
      try {
        Deno.removeSync(path, { recursive: true });
        out.paths.push(path);
        out.bytes += bytes;
      } catch { /* gone, or removed by another reclaimer */ }
    };
    const each = (dir: string, fn: (name: string) => void) => {
      try {
        for (const e of Deno.readDirSync(dir)) fn(e.name);
      } catch { /* none */ }
    };
    each(`${this.root}/layers`, (name) => {
      // .PREFIX-PID-START-RANDOM (one of an older version has no owner, so none alive),
      // and LAYER.ok.tmp-PID-START, a marker its writer did not rename.
      const m = /^\.[a-z]+-(.*)$/.exec(name) ?? /\.tmp-(\d+-\d+)$/.exec(name);
      if (m && !ownerAlive(m[1])) drop(`${this.root}/layers/${name}`);
    });
    const containers = reclaimOwnedDirs(containerDirOf(this.root, ""), removeImageRoot);
    out.paths.push(...containers.paths);
    out.bytes += containers.bytes;
    let liveLeases = 0;
    each(`${this.root}/leases`, (name) => {
      if (ownerAlive(name)) liveLeases++;
      else drop(`${this.root}/leases/${name}`);
    });
    each(this.root, (name) => {
      const m = /^index\.json\.tmp-(.*)$/.exec(name);
      if (m && !ownerAlive(m[1])) drop(`${this.root}/${name}`);
    });
    if (blobs && liveLeases === 0) {
      // Not blobs/sha256: the images' own blobs (blobs.ts), which pruneBlobs looks after.
      each(`${this.root}/blobs`, (name) => name !== "sha256" && drop(`${this.root}/blobs/${name}`));
    }
    return out;
  }

  /**
   * Removes the kept blobs (blobs.ts) no image's manifest names. Called with
   * the lock held and no lease live: a pull, load or build in progress holds one.
   */
  private pruneBlobs(): void {
    const dir = `${this.root}/blobs/sha256`;
    const keep = new Set<string>();
    for (const image of Object.values(this.readIndex().images)) {
      keep.add(image.id.slice(7));
      if (!image.manifest) continue;
      keep.add(image.manifest.slice(7));
      try {
        const m = JSON.parse(Deno.readTextFileSync(`${dir}/${image.manifest.slice(7)}`));
        for (const l of m.layers ?? []) keep.add(String(l.digest).slice(7));
      } catch { /* a manifest lost: its blobs go */ }
    }
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (!keep.has(e.name)) Deno.removeSync(`${dir}/${e.name}`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  /** The layer directories a container over `image` has (overlayfs order, as run_image.ts makes them). */
  rootLayers(image: LocalImage): string[] {
    return [...new Set([...image.layers].reverse().map((l) => this.layerDir(l)))];
  }

  /** The id of the image container `id`'s root was made from (its layers' when unrecorded). */
  containerImage(id: string): string | undefined {
    const dir = containerDirOf(this.root, id);
    try {
      return Deno.readTextFileSync(`${dir}/image`);
    } catch { /* made before images were recorded */ }
    try {
      const layers = Deno.readTextFileSync(`${dir}/layers.json`);
      return Object.values(this.readIndex().images).find((i) =>
        JSON.stringify(this.rootLayers(i)) === layers
      )?.id;
    } catch {
      return undefined;
    }
  }

  /** Ids of the containers whose root was made from `image`. */
  containersUsing(image: LocalImage): string[] {
    const users: string[] = [];
    try {
      for (const e of Deno.readDirSync(containerDirOf(this.root, ""))) {
        if (this.containerImage(e.name) === image.id) users.push(e.name);
      }
    } catch { /* no containers */ }
    return users;
  }

  /**
   * Removes `ref` from the index and the layers nothing else uses; resolves
   * to the layers freed. As docker, the last name of an image a container
   * uses is refused unless `force` (the container keeps its layers anyway).
   */
  async remove(ref: string, force = false): Promise<number> {
    await this.locked(() => {
      const index = this.readIndex();
      const image = this.find(ref);
      if (!image) throw new ContainerError("remove image", ref, undefined, "no such image");
      const byId = ref.replace(/^sha256:/, "") !== ref || !index.images[normalizeRef(ref)];
      const names = Object.values(index.images).filter((i) => i.id === image.id).length;
      // A dead container (a killed run) uses nothing: its directory goes first.
      if (!force) this.reclaim(false);
      const users = force || (!byId && names > 1) ? [] : this.containersUsing(image);
      if (users.length) {
        throw new ContainerError(
          "remove image",
          ref,
          undefined,
          `container ${users[0].slice(0, 12)} uses it; remove the container first, or use -f`,
        );
      }
      for (const [key, value] of Object.entries(index.images)) {
        // By id: every name of that image goes; by name: that name only.
        if (value.id === image.id && (key === image.ref || byId)) delete index.images[key];
      }
      this.writeIndex(index);
    });
    return await this.prune();
  }

  /** Forgets the build steps' images (build's cache, `images -a`); resolves to how many. */
  async dropBuildCache(): Promise<number> {
    return await this.locked(() => {
      const index = this.readIndex();
      const steps = Object.keys(index.images).filter((k) => index.images[k].intermediate);
      for (const k of steps) delete index.images[k];
      if (steps.length) this.writeIndex(index);
      return steps.length;
    });
  }

  /** Removes every layer (and stale partial download) no image, container or lease uses; resolves to how many layers. */
  async prune(): Promise<number> {
    return (await this.pruneLayers()).layers;
  }

  /**
   * {@link prune} with what it freed: dead commands' leftovers ({@link
   * reclaim}, blobs included with `blobs`) then the unused layers, with bytes.
   */
  async pruneLayers(blobs = false): Promise<Reclaimed & { layers: number }> {
    return await this.locked(() => {
      const out = { ...this.reclaim(blobs), layers: 0 };
      const used = this.layersInUse(this.readIndex());
      let freed = 0;
      try {
        for (const e of Deno.readDirSync(`${this.root}/layers`)) {
          const path = `${this.root}/layers/${e.name}`;
          if (!e.isDirectory || e.name.startsWith(".") || used.has(path)) continue;
          try {
            Deno.removeSync(`${path}.ok`);
          } catch { /* a layer never completed */ }
          const bytes = diskUsage(path);
          try {
            Deno.removeSync(path, { recursive: true });
            out.paths.push(path);
            out.bytes += bytes;
            freed++;
          } catch (err) {
            // One directory that will not go (EIO, an immutable file, a mount
            // on it) is reported; the rest are still pruned.
            console.error(
              `minicontainer: warning: ${fromDenoError("remove layer", path, err).message}`,
            );
          }
        }
        // A downloaded blob (and its lock) lives only while a pull runs, and every
        // running pull holds a lease: with none, the rest was left by pulls that
        // died. Partial blobs stay: the next pull resumes them.
        if (![...Deno.readDirSync(`${this.root}/leases`)].length) {
          for (const e of Deno.readDirSync(`${this.root}/blobs`)) {
            if (e.isFile && !e.name.endsWith(".partial")) {
              Deno.removeSync(`${this.root}/blobs/${e.name}`);
            }
          }
          this.pruneBlobs();
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          throw fromDenoError("prune layers in", this.root, e);
        }
      }
      out.layers = freed;
      return out;
    });
  }
}

/** What a reclaim removed: the paths and the bytes they held. */
export interface Reclaimed {
  paths: string[];
  bytes: number;
}
