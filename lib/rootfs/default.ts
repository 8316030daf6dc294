/**
 * The default root filesystem: where it lives and building it on first use.
 * @module
 */

import { fromDenoError } from "../errors.ts";
import { makeOwnedDir } from "../state/liveness.ts";
import { isReady } from "./marker.ts";

/**
 * minicontainer's data folder: $MINICONTAINER_DATA, else /var/lib/minicontainer
 * for root and $XDG_DATA_HOME/minicontainer (~/.local/share/minicontainer)
 * for other users.
 */
export function dataDir(): string {
  const set = Deno.env.get("MINICONTAINER_DATA");
  if (set) return set;
  if (Deno.uid() === 0) return "/var/lib/minicontainer";
  const xdg = Deno.env.get("XDG_DATA_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.local/share`;
  return `${xdg}/minicontainer`;
}

/** Where the default rootfs lives. */
export function defaultRootfsPath(): string {
  return `${dataDir()}/rootfs/default`;
}

/** Whether a finished rootfs is at `dir` (one lstat: this is on every start). */
export function isRootfsReady(dir: string): boolean {
  return isReady(dir);
}

/** The default rootfs, built first if it is not there yet. */
export async function ensureDefaultRootfs(log?: (line: string) => void): Promise<string> {
  const dir = defaultRootfsPath();
  if (!isReady(dir)) {
    const { buildRootfs } = await import("./build.ts");
    await buildRootfs(dir, { log });
  }
  return dir;
}

/**
 * Where every container's own files live: `containers/<64-hex id>` in the
 * data directory (image containers too, see lib/image/run_image.ts), one
 * parent so that the directories of containers whose runtime died can be
 * found and reclaimed by id (see {@link holdContainerDir}).
 */
export function containerDir(id: string): string {
  return `${dataDir()}/containers/${id}`;
}

/** A container's writable layer on disk, and where its root is mounted. */
export interface WritableLayer {
  /** The container's directory: removing it removes everything below. */
  dir: string;
  upper: string;
  work: string;
  /** The empty directory the overlay is mounted on (or the copy made into). */
  root: string;
}

/**
 * Makes container `id`'s directory with empty upper, work and root
 * directories: the writable layer of an overlay over the default rootfs.
 * On disk, not in memory: what the container writes (including /tmp) costs
 * the host disk, as with docker, and goes when the directory is removed.
 * The parent only lets its owner list it and the directory is 0700: a
 * setuid file the container makes in its upper layer is out of host users'
 * reach (docker's CVE-2021-41091).
 */
export function makeWritableLayer(id: string, stateDir?: string): WritableLayer {
  const dir = containerDir(id);
  const layer = { dir, upper: `${dir}/upper`, work: `${dir}/work`, root: `${dir}/rootfs` };
  try {
    // Whole or not at all, with its owner (and a detached container's state
    // folder): one a killed run left is reclaimed (lib/state/liveness.ts).
    makeOwnedDir(dir.slice(0, dir.lastIndexOf("/")), id, (tmp) => {
      for (const d of ["upper", "work", "rootfs"]) Deno.mkdirSync(`${tmp}/${d}`);
      // The upper directory is the container's "/": 0755 whatever our umask.
      Deno.chmodSync(`${tmp}/upper`, 0o755);
    }, stateDir);
  } catch (e) {
    throw fromDenoError("make the writable layer in", dir, e);
  }
  return layer;
}

/**
 * Makes container `id`'s directory, empty (a --rootfs container has no
 * writable layer, but a detached one keeps its log there).
 */
export function makeContainerDir(id: string, stateDir?: string): string {
  const dir = containerDir(id);
  try {
    return makeOwnedDir(dir.slice(0, dir.lastIndexOf("/")), id, () => {}, stateDir);
  } catch (e) {
    throw fromDenoError("make the container's directory", dir, e);
  }
}

/**
 * Marks container directory `dir` as in use while the returned file stays
 * open: a shared flock on the directory itself, released by the kernel when
 * its holder dies however it dies. The runtime running a container holds it
 * (the foreground `run`, the launcher of `run -d`, then its monitor), so
 * a reclaimer that gets LOCK_EX on a directory knows none of them is alive.
 */
export function holdContainerDir(dir: string): Deno.FsFile | undefined {
  try {
    const f = Deno.openSync(dir, { read: true });
    f.lockSync(false);
    return f;
  } catch {
    return undefined; // gone already: nothing to hold
  }
}

/** Directories of mode 0 overlayfs makes in its work directory (work/work, the volatile mark). */
const OVERLAY_MODE0_DIRS = ["work/work", "work/work/incompat", "work/work/incompat/volatile"];

/**
 * Removes a container's directory and its writable layer. overlayfs leaves
 * directories of mode 0 in work/ that only root may read: a rootless runtime
 * makes them readable, then tries again.
 */
export function removeContainerDir(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
    return;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
  }
  for (const d of OVERLAY_MODE0_DIRS) {
    try {
      Deno.chmodSync(`${dir}/${d}`, 0o700);
    } catch { /* not there */ }
  }
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* left for the reclaimer */ }
}

/**
 * {@link removeContainerDir} on Deno's thread pool: the caller's thread goes
 * on (with the cgroup's removal, the state's) while the layer's files go.
 */
export async function removeContainerDirAsync(dir: string): Promise<void> {
  try {
    await Deno.remove(dir, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) removeContainerDir(dir);
  }
}
