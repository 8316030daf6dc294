/**
 * Running an image: finding it, giving a container its own root (an
 * overlayfs of the image's read-only layers with the container's upper and
 * work directories, mounted in the container's own mount namespace), and
 * merging the image's config with docker's flags the way docker does.
 * @module
 */

import { ContainerError, fromDenoError } from "../errors.ts";
import {
  findImage,
  type ImageConfig,
  layerDir,
  layerReady,
  type LocalImage,
} from "./index_file.ts";

/** A container's root made from an image. */
export interface ImageRoot {
  /** Layer directories, top first (overlayfs lowerdir order). */
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
  /** The empty directory the overlay is mounted on: the container's rootfs path. */
  rootfs: string;
  /** The container's own directory: remove it to remove the root. */
  dir: string;
  config: ImageConfig;
}

/** The image `ref` names, read from `storeRoot`'s index (one file read). */
export function findLocalImage(storeRoot: string, ref: string): LocalImage | undefined {
  return findImage(storeRoot, ref);
}

/** Makes the directories of a container's root over `image`'s layers. */
export function prepareImageRoot(
  storeRoot: string,
  image: LocalImage,
  containerId: string,
): ImageRoot {
  const lowerdirs = [...image.layers].reverse().map((l) => layerDir(storeRoot, l));
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
  const dir = `${storeRoot}/containers/${containerId.slice(0, 16)}`;
  try {
    for (const d of ["upper", "work", "rootfs"]) {
      Deno.mkdirSync(`${dir}/${d}`, { recursive: true, mode: 0o755 });
    }
    // Marks the layers as in use, so prune keeps them while the container exists.
    Deno.writeTextFileSync(`${dir}/layers.json`, JSON.stringify(lowerdirs));
  } catch (e) {
    removeImageRoot(dir);
    throw fromDenoError("prepare container root", dir, e);
  }
  return {
    lowerdirs,
    upperdir: `${dir}/upper`,
    workdir: `${dir}/work`,
    rootfs: `${dir}/rootfs`,
    dir,
    config: image.config,
  };
}

/** Removes a container's root directories (its writes go with them). */
export function removeImageRoot(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
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

/** docker's merge: entrypoint + (the given command, else the image's Cmd); env layered; flags win. */
export function mergeImageConfig(config: ImageConfig, flags: ProcessFlags): {
  args: string[];
  env: string[];
  cwd?: string;
  user?: string;
  stopSignal?: string;
} {
  const entrypoint = flags.entrypoint !== undefined
    ? (flags.entrypoint ? [flags.entrypoint] : [])
    : config.Entrypoint ?? [];
  // A new entrypoint drops the image's Cmd, as docker does.
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
  return {
    args,
    env: [...(config.Env ?? []), ...flags.env],
    cwd: flags.workdir ?? (config.WorkingDir || undefined),
    user: flags.user ?? (config.User || undefined),
    stopSignal: config.StopSignal,
  };
}
