/**
 * Running an image: finding it, giving a container its own root (an
 * overlayfs of the image's read-only layers with the container's upper and
 * work directories, mounted in the container's own mount namespace; a copy
 * where overlayfs is unavailable), and merging the image's config with
 * docker's flags the way docker does. `run` loads this module on every
 * image start: it imports no node: module, no tar or registry code.
 * @module
 */

import { writeFileAtomic } from "../atomic_file.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { makeOwnedDir } from "../state/liveness.ts";
import { copyLayers, overlaySupported } from "./copy_root.ts";
import {
  containerDirOf,
  findImage,
  type ImageConfig,
  imageStoreRoot,
  layerDir,
  layerReady,
  type LocalImage,
} from "./index_file.ts";

export type { ImageConfig, LocalImage } from "./index_file.ts";
export { checkImageConfig } from "./index_file.ts";

/** A container's root made from an image. */
export interface ImageRoot {
  /** Layer directories, absolute, top first (overlayfs lowerdir order). */
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
  /** The empty directory the overlay is mounted on: the container's rootfs path. */
  rootfs: string;
  /** True when overlayfs is unavailable and the layers were copied into `rootfs` instead. */
  copied: boolean;
  config: ImageConfig;
  /** The store's layers directory: the lowerdirs relative to it are {@link layerNames}. */
  layersDir: string;
  /** The lowerdirs relative to {@link layersDir} (16 hex each), top first. */
  layerNames: string[];
  /** The container's own directory (upper, work, rootfs): removing it removes the root. */
  dir: string;
  /** Removes the upper, work and rootfs directories (the container's writes go with them). */
  remove(): Promise<void>;
}

/** Which store an image found by {@link findLocalImage} came from. */
const storeOf = new WeakMap<LocalImage, string>();

/**
 * The local image `ref` names (name, name:tag, name@digest or a unique id
 * prefix); undefined when there is none. Synchronous and cheap: one read of
 * the store's index.json. The two-argument form names the store root.
 */
export function findLocalImage(ref: string): LocalImage | undefined;
/** @deprecated pass only the reference; the store root follows MINICONTAINER_DATA. */
export function findLocalImage(storeRoot: string, ref: string): LocalImage | undefined;
export function findLocalImage(a: string, b?: string): LocalImage | undefined {
  const [root, ref] = b === undefined ? [imageStoreRoot(), a] : [a, b];
  const image = findImage(root, ref);
  if (image) storeOf.set(image, root);
  return image;
}

/**
 * Makes a container's root over `image`'s layers: upper, work and rootfs
 * directories in containers/<id> beside the store (0700, as
 * lib/rootfs/default.ts makes the default rootfs's), recorded as users of the
 * layers (so `image prune` keeps them) under the store's lock. Where
 * overlayfs is unavailable the layers are copied into rootfs (`copied`).
 */
export function prepareImageRoot(image: LocalImage, containerId: string): Promise<ImageRoot>;
/** @deprecated the one-store form: no lock, no copy fallback (the caller copies). */
export function prepareImageRoot(
  storeRoot: string,
  image: LocalImage,
  containerId: string,
  owner?: RootOwner,
): ImageRoot;
export function prepareImageRoot(
  a: LocalImage | string,
  b: LocalImage | string,
  c?: string,
  owner?: RootOwner,
): Promise<ImageRoot> | ImageRoot {
  if (typeof a === "string") return makeRoot(a, b as LocalImage, c!, owner);
  const image = a;
  const root = storeOf.get(image) ?? imageStoreRoot();
  return withStoreLock(root, () => {
    const made = makeRoot(root, image, b as string);
    if (overlaySupported()) return made;
    try {
      copyLayers(made.lowerdirs, made.rootfs);
    } catch (e) {
      removeImageRoot(made.dir);
      throw e;
    }
    return { ...made, copied: true };
  });
}

/** Runs `fn` holding the store's write lock (the one pull, rmi and prune take). */
async function withStoreLock<T>(root: string, fn: () => T): Promise<T> {
  let lock: Deno.FsFile;
  try {
    Deno.mkdirSync(root, { recursive: true, mode: 0o700 });
    lock = await Deno.open(`${root}/lock`, { create: true, write: true });
  } catch (e) {
    throw fromDenoError("lock image store", root, e);
  }
  try {
    await lock.lock(true);
    return fn();
  } finally {
    lock.close();
  }
}

/** Who keeps a container root once its maker is gone: a detached container's state folder. */
export interface RootOwner {
  /** The detached container's state folder (absolute). */
  stateDir?: string;
}

function makeRoot(
  storeRoot: string,
  image: LocalImage,
  containerId: string,
  owner: RootOwner = {},
): ImageRoot {
  for (const l of image.layers) {
    if (!layerReady(storeRoot, l)) {
      throw new ContainerError(
        "prepare root of",
        image.ref,
        undefined,
        `layer ${l} is missing from the store; pull or load the image again`,
      );
    }
  }
  // A layer may come twice (an image that adds the same files again): overlayfs
  // refuses a directory twice (ELOOP), and the top occurrence alone gives the
  // same view, since it holds everything the lower one does and lies above it.
  const lowerdirs = [...new Set([...image.layers].reverse().map((l) => layerDir(storeRoot, l)))];
  const dir = containerDirOf(storeRoot, containerId);
  try {
    // Whole or not at all, with its owner: one a killed run left is reclaimed.
    makeOwnedDir(dir.slice(0, dir.lastIndexOf("/")), containerId, (tmp) => {
      for (const d of ["upper", "work", "rootfs"]) Deno.mkdirSync(`${tmp}/${d}`);
      Deno.chmodSync(`${tmp}/upper`, 0o755);
      // Marks the layers as in use, so prune keeps them while the container exists.
      writeFileAtomic(`${tmp}/layers.json`, JSON.stringify(lowerdirs), "record layers in use", {
        sync: false,
      });
      // Which image: rmi refuses it while the container exists, commit starts from its config.
      writeFileAtomic(`${tmp}/image`, image.id, "record the image in use", { sync: false });
    }, owner.stateDir);
  } catch (e) {
    throw fromDenoError("prepare container root", dir, e);
  }
  return {
    lowerdirs,
    upperdir: `${dir}/upper`,
    workdir: `${dir}/work`,
    rootfs: `${dir}/rootfs`,
    copied: false,
    config: image.config,
    layersDir: `${storeRoot}/layers`,
    layerNames: lowerdirs.map((l) => l.slice(l.lastIndexOf("/") + 1)),
    dir,
    remove: () => Promise.resolve(removeImageRoot(dir)),
  };
}

/** Removes a container's root directories (its writes go with them). */
export function removeImageRoot(dir: string): void {
  // overlayfs makes directories of mode 0 in work/: readable first, for a rootless runtime.
  for (const d of ["work/work", "work/work/incompat", "work/work/incompat/volatile"]) {
    try {
      Deno.chmodSync(`${dir}/${d}`, 0o700);
    } catch { /* not there */ }
  }
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
}

/** mount(2) copies one page of options; the kernel needs the terminating NUL in it. */
export const MOUNT_DATA_MAX = 4095;

/**
 * The overlayfs mount options for `root`, and where to be (chdir) when
 * mounting: absolute paths when they fit in a page, else the layers named
 * relative to the store's layers directory (17 bytes a layer: room for more
 * than the 128 layers docker allows), which needs a chdir to `chdir` first.
 * Throws a one-sentence error when even that does not fit.
 */
export function overlayMountData(root: ImageRoot): { data: string; chdir?: string } {
  const absolute = `lowerdir=${
    root.lowerdirs.join(":")
  },upperdir=${root.upperdir},workdir=${root.workdir}`;
  if (absolute.length <= MOUNT_DATA_MAX) return { data: absolute };
  const relative = `lowerdir=${
    root.layerNames.join(":")
  },upperdir=${root.upperdir},workdir=${root.workdir}`;
  if (relative.length <= MOUNT_DATA_MAX) return { data: relative, chdir: root.layersDir };
  throw new ContainerError(
    "mount the overlay of",
    root.rootfs,
    undefined,
    `the image has ${root.lowerdirs.length} layers, more than one overlayfs mount takes`,
  );
}

/** What docker's flags say about the process. */
export interface ProcessFlags {
  /** --entrypoint: replaces the image's (an empty string clears it). */
  entrypoint?: string;
  /** The command after the image name. */
  cmd: string[];
  /** -e entries, already resolved to K=V. */
  env: string[];
  workdir?: string;
  user?: string;
}

/** docker's PATH for an image whose config sets none. */
export const DEFAULT_IMAGE_PATH =
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** `env` with each of `over`'s K=V replacing the same K in place, or appended. */
function mergeEnv(env: readonly string[], over: readonly string[]): string[] {
  const out = [...env];
  const key = (kv: string) => (kv.includes("=") ? kv.slice(0, kv.indexOf("=")) : kv);
  for (const kv of over) {
    const at = out.findIndex((e) => key(e) === key(kv));
    if (at >= 0) out[at] = kv;
    else out.push(kv);
  }
  return out;
}

/**
 * docker's merge: the args are the entrypoint (--entrypoint's, else the
 * image's) followed by the command given, else the image's Cmd (dropped when
 * --entrypoint is given); -e replaces the image's Env by key (a PATH is added
 * when neither sets one); -w, else WorkingDir, else "/"; -u, else User.
 */
export function mergeImageConfig(config: ImageConfig, flags: ProcessFlags): {
  args: string[];
  env: string[];
  cwd: string;
  user?: string;
  stopSignal?: string;
} {
  const entrypoint = flags.entrypoint !== undefined
    ? (flags.entrypoint ? [flags.entrypoint] : [])
    : config.Entrypoint ?? [];
  const cmd = flags.cmd.length ? flags.cmd : flags.entrypoint !== undefined ? [] : config.Cmd ?? [];
  const args = [...entrypoint, ...cmd];
  if (!args.length) {
    throw new ContainerError(
      "run image",
      undefined,
      undefined,
      "no command given and the image has none",
    );
  }
  let env = mergeEnv(config.Env ?? [], flags.env);
  if (!env.some((e) => e.startsWith("PATH="))) env = [DEFAULT_IMAGE_PATH, ...env];
  return {
    args,
    env,
    cwd: flags.workdir || config.WorkingDir || "/",
    user: flags.user || config.User || undefined,
    stopSignal: config.StopSignal || undefined,
  };
}
