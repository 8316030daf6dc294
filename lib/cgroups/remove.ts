/**
 * Removing a container's cgroup directories when the process that made them
 * is gone (a killed `run`, a crashed supervisor): what `rm` does with the
 * paths the state recorded, and what reclaim does with the ones it finds.
 * Processes left inside are killed first.
 * @module
 */

import { killAll, readPids, removeDirDraining } from "./fs.ts";
import { CGROUP_ROOT } from "./layout.ts";

/** Kills what is left in each cgroup directory (and below it) and removes it; missing ones are fine. */
export function removeCgroupDirs(paths: readonly string[]): void {
  for (const dir of paths) removeTree(dir);
}

/** Sub-cgroups the container made in its cgroup namespace go first, deepest first. */
function removeTree(dir: string): void {
  let children: string[] = [];
  try {
    children = [...Deno.readDirSync(dir)]
      .filter((e) => e.isDirectory && !e.isSymlink)
      .map((e) => `${dir}/${e.name}`);
  } catch { /* gone */ }
  for (const child of children) removeTree(child);
  const drain = () => killAll(readPids(`${dir}/cgroup.procs`));
  drain();
  removeDirDraining(dir, drain);
}

/**
 * The cgroup directories of containers, by id, in every hierarchy (every v1
 * controller, the v2 one, a hybrid's `unified`), wherever they sit (under
 * the runtime's own cgroup, under any --cgroup-parent). With `ids`, only
 * those containers'. A walk of the cgroup filesystems: for reclaim, never
 * on a container's start.
 */
export function findContainerCgroups(
  ids?: ReadonlySet<string>,
  root: string = CGROUP_ROOT,
): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      // Symlinks name co-mounted hierarchies (cpu -> cpu,cpuacct): walked once.
      if (!e.isDirectory || e.isSymlink) continue;
      const m = /^minicontainer-(.+)$/.exec(e.name);
      if (!m) walk(`${dir}/${e.name}`);
      else if (!ids || ids.has(m[1])) {
        found.set(m[1], [...found.get(m[1]) ?? [], `${dir}/${e.name}`]);
      }
    }
  };
  walk(root);
  return found;
}
