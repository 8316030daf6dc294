/**
 * Reclaiming what dead commands left. No daemon runs after a SIGKILL, so
 * the next command finds the leftovers by their owner tags (lib/state/liveness.ts)
 * and finishes the job: the cgroups of a killed `run` or supervisor (found in
 * every hierarchy by the id its journal entry names), the folders of a
 * killed `run -d` or `rm`, and the image roots of containers nobody owns.
 * Only the state root's own containers are judged: a cgroup no entry of this
 * root names belongs to another root (or to nobody known) and is left alone.
 * @module
 */

import { containerDir, removeContainerDir } from "../rootfs/default.ts";
import { ownedDirAlive } from "../state/liveness.ts";
import { diskUsage, pathExists } from "../state/disk_usage.ts";
import type { StateStore } from "../state/store.ts";

/** What a reclaim removed. */
export interface Reclaimed {
  /** Cgroup directories, every hierarchy's. */
  cgroups: string[];
  /** Container folders (half-made, tombstones) and image roots. */
  paths: string[];
  /** Bytes the removed paths held on disk. */
  bytes: number;
}

/** An empty report. */
export function nothingReclaimed(): Reclaimed {
  return { cgroups: [], paths: [], bytes: 0 };
}

/**
 * Reclaims the leftovers of dead commands in `store`: cgroups and image
 * roots of killed runs and supervisors (their journal entries), half-made
 * container folders, and tombstones of killed removals (what their
 * container still had: processes, cgroups, image root). Cheap when there is
 * nothing to do: three directory listings (owners/, the root, names/) and
 * no module load.
 */
export async function reclaimDead(store: StateStore): Promise<Reclaimed> {
  const out = nothingReclaimed();
  const claims = store.deadClaims();
  const tombs = store.reclaim();
  if (!claims.size && !tombs.length) return out;
  const ids = new Set([...claims.keys(), ...tombs.map((t) => t.id)]);
  const { findContainerCgroups, removeCgroupDirs } = await import("../cgroups/remove.ts");
  const found = findContainerCgroups(ids);
  for (const t of tombs) {
    // The walk finds what the state recorded too; a set keeps each once, and
    // only those still there are reported.
    const paths = new Set([...found.get(t.id) ?? [], ...t.state?.cgroupPaths ?? []]);
    found.set(t.id, [...paths].filter(pathExists));
  }
  for (const [id, paths] of found) {
    try {
      removeCgroupDirs(paths);
      out.cgroups.push(...paths);
    } catch (e) {
      // A cgroup that will not go (a process in uninterruptible sleep): next time.
      console.error(`minicontainer: warning: reclaim cgroup of ${id.slice(0, 12)}: ${e}`);
      ids.delete(id);
      claims.delete(id);
    }
  }
  for (const t of tombs) {
    for (const path of t.state?.removeOnDelete ?? []) {
      const bytes = diskUsage(path);
      removeContainerDir(path);
      if (pathExists(path)) continue;
      out.paths.push(path);
      out.bytes += bytes;
    }
    store.removeDead(t);
    out.paths.push(t.path);
  }
  for (const id of ids) dropContainerDir(id, out);
  for (const entries of claims.values()) for (const e of entries) store.release(e);
  return out;
}

/** Removes container `id`'s directory (its writable layer, its root) when nothing owns it any more. */
export function dropContainerDir(id: string, out: Reclaimed): void {
  const dir = containerDir(id);
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  if (!pathExists(dir) || ownedDirAlive(parent, id)) return;
  const bytes = diskUsage(dir);
  removeContainerDir(dir);
  if (!pathExists(dir)) {
    out.paths.push(dir);
    out.bytes += bytes;
  }
}
