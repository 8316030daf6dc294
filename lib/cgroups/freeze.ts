/**
 * `pause` and `unpause`: every process of a running container frozen or
 * thawed through its cgroup's freezer (v1 freezer.state, v2
 * cgroup.freeze), found from its PID 1's /proc/PID/cgroup. The freezer is
 * the state itself: paused is read back from it, never stored.
 * @module
 */

import { ContainerError } from "../errors.ts";
import { readOptional, sleepSync, writeFile } from "./fs.ts";
import { CGROUP_ROOT } from "./layout.ts";
import { cgroupsOfPid } from "./of_pid.ts";

/** Where container `pid`'s freezer is: v1 freezer.state or v2 cgroup.freeze. */
function freezerOf(pid: number, root: string): { v2: boolean; dir: string } | undefined {
  const c = cgroupsOfPid(pid, root);
  const dir = c.v2 ? c.dir : c.v1.get("freezer");
  return dir === undefined ? undefined : { v2: c.v2, dir };
}

/** Whether container `pid`'s processes are frozen (false without a freezer of its own). */
export function isFrozen(pid: number, root: string = CGROUP_ROOT): boolean {
  let f: ReturnType<typeof freezerOf>;
  try {
    f = freezerOf(pid, root);
  } catch {
    return false; // exited meanwhile
  }
  if (!f) return false;
  if (f.v2) return /^frozen 1$/m.test(readOptional(`${f.dir}/cgroup.events`) ?? "");
  return readOptional(`${f.dir}/freezer.state`)?.trim() === "FROZEN";
}

/**
 * Freezes (or thaws) container `pid`'s cgroup and waits until the kernel
 * says it is done (v1 passes through FREEZING; v2 reports in cgroup.events).
 */
export function setFrozen(
  pid: number,
  frozen: boolean,
  ref: string,
  root: string = CGROUP_ROOT,
): void {
  const op = frozen ? "pause" : "unpause";
  const f = freezerOf(pid, root);
  if (!f) {
    throw new ContainerError(op, ref, undefined, "the container has no freezer cgroup of its own");
  }
  if (f.v2) writeFile(`${f.dir}/cgroup.freeze`, frozen ? "1" : "0");
  else writeFile(`${f.dir}/freezer.state`, frozen ? "FROZEN" : "THAWED");
  for (let k = 0; k < 500; k++) {
    if (isFrozen(pid, root) === frozen) return;
    // v1: a FREEZING cgroup retries the freeze on each write.
    if (!f.v2 && frozen) writeFile(`${f.dir}/freezer.state`, "FROZEN");
    sleepSync(10);
  }
  throw new ContainerError(op, ref, undefined, "the freezer did not settle within 5 seconds");
}
