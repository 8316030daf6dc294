/**
 * A running container's own cgroup directories, found from its PID 1's
 * /proc/PID/cgroup (the host's view names them even though the container
 * sees "/"), for the verbs that act on a container after its start
 * (pause, stats).
 * @module
 */

import { readOptional } from "./fs.ts";
import { CGROUP_ROOT, detectCgroupLayout, ownCgroups, parseProcCgroup } from "./layout.ts";

/** The container's cgroups: `v2` with its one directory, or a v1 directory per controller. */
export interface PidCgroups {
  v2: boolean;
  /** v2: the unified directory. */
  dir?: string;
  /** v1: controller name to directory. */
  v1: Map<string, string>;
}

/**
 * Where `pid` is, in every hierarchy where that is not the runtime's own
 * cgroup (a container without a cgroup of its own must not be frozen or
 * measured as if it were the runtime). Throws when `pid` is gone.
 */
export function cgroupsOfPid(pid: number, root: string = CGROUP_ROOT): PidCgroups {
  const v2 = detectCgroupLayout(root) === "v2";
  const own = new Map(ownCgroups().map((m) => [m.id, m.path]));
  const text = Deno.readTextFileSync(`/proc/${pid}/cgroup`);
  const out: PidCgroups = { v2, v1: new Map() };
  for (const m of parseProcCgroup(text)) {
    if (own.get(m.id) === m.path) continue;
    const rel = m.path === "/" ? "" : m.path;
    if (m.id === 0) {
      if (v2) out.dir = `${root}${rel}`;
      continue;
    }
    for (const c of m.controllers) {
      // Co-mounted controllers (cpu,cpuacct) may be reachable by either name.
      const joined = `${root}/${m.controllers.join(",")}${rel}`;
      const single = `${root}/${c}${rel}`;
      out.v1.set(c, readOptional(`${single}/cgroup.procs`) !== undefined ? single : joined);
    }
  }
  return out;
}
