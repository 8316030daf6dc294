/**
 * Joining a running container's cgroups (`exec`): the new process goes
 * wherever the container's process already is, so the container's limits
 * bind it too. Read from the host, /proc/<pid>/cgroup names the container's
 * cgroups within each hierarchy even though the container sees "/".
 * @module
 */

import type { ContainerError } from "../errors.ts";
import { ERRNO, readFile, writeFile } from "./fs.ts";
import { CGROUP_ROOT, detectCgroupLayout, ownCgroups, parseProcCgroup } from "./layout.ts";

/**
 * Moves `child` into every cgroup `pid` belongs to, except the hierarchies
 * where `pid` sits in the runtime's own cgroup (nothing to join there). Call
 * it before the child is released. Throws a ContainerError naming the
 * cgroup.procs file (ESRCH when the container has exited meanwhile).
 */
export function joinCgroupsOf(pid: number, child: number, root: string = CGROUP_ROOT): void {
  const v2 = detectCgroupLayout(root) === "v2";
  const own = new Map(ownCgroups().map((m) => [m.id, m.path]));
  for (const m of parseProcCgroup(readFile(`/proc/${pid}/cgroup`))) {
    if (own.get(m.id) === m.path) continue;
    // On a hybrid host the limits live in the v1 hierarchies only.
    if (m.id === 0 ? !v2 : v2 || m.controllers.length === 0) continue;
    const mounts = m.id === 0
      ? [root]
      : [`${root}/${m.controllers[0]}`, `${root}/${m.controllers.join(",")}`];
    for (const [i, mount] of mounts.entries()) {
      try {
        writeFile(`${mount}${m.path === "/" ? "" : m.path}/cgroup.procs`, String(child));
        break;
      } catch (e) {
        // Co-mounted controllers may be reachable only by the joined name.
        if ((e as ContainerError).errno !== ERRNO.ENOENT || i === mounts.length - 1) throw e;
      }
    }
  }
}
