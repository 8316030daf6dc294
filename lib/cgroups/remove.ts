/**
 * Removing a container's cgroup directories when the process that made them
 * is gone (a crashed supervisor): what `rm` does with the paths the state
 * recorded. Processes left inside are killed first.
 * @module
 */

import { killAll, readPids, removeDirDraining } from "./fs.ts";

/** Kills what is left in each cgroup directory and removes it; missing ones are fine. */
export function removeCgroupDirs(paths: readonly string[]): void {
  for (const dir of paths) {
    const drain = () => killAll(readPids(`${dir}/cgroup.procs`));
    drain();
    removeDirDraining(dir, drain);
  }
}
