/**
 * Which cgroup layout the host runs, and where this process sits in it.
 * Pure v2 mounts cgroup2 at the root; hybrid mounts v1 controllers there with
 * a cgroup2 hierarchy at `unified/`; v1 has only per-controller mounts.
 * @module
 */

import { exists, readFile, warmAttach } from "./fs.ts";

/** The default mount point of the cgroup filesystems. */
export const CGROUP_ROOT = "/sys/fs/cgroup";

/** The host's cgroup layout. */
export type CgroupLayout = "v1" | "v2" | "hybrid";

/**
 * Detects the layout under `root` from which interface files exist. One
 * directory read: a failed stat costs a thrown error, on every v1 host.
 */
export function detectCgroupLayout(root: string = CGROUP_ROOT): CgroupLayout {
  let names: Set<string>;
  try {
    names = new Set(Array.from(Deno.readDirSync(root), (e) => e.name));
  } catch {
    return "v1";
  }
  if (names.has("cgroup.controllers")) return "v2";
  if (names.has("unified") && exists(`${root}/unified/cgroup.controllers`)) return "hybrid";
  return "v1";
}

/** One line of /proc/self/cgroup: a hierarchy, its controllers and our path in it. */
export interface Membership {
  /** Hierarchy id; 0 is the cgroup v2 hierarchy. */
  id: number;
  /** The v1 controllers bound to the hierarchy (empty for v2 and named hierarchies). */
  controllers: string[];
  /** This process's cgroup in that hierarchy, absolute within it. */
  path: string;
}

/** Parses /proc/<pid>/cgroup ("4:memory:/a/b", "3:cpu,cpuacct:/", "0::/user.slice"). */
export function parseProcCgroup(text: string): Membership[] {
  const out: Membership[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controllers = m[2] === ""
      ? []
      : m[2].split(",").filter((c) => c !== "" && !c.startsWith("name="));
    out.push({ id: Number(m[1]), controllers, path: m[3] });
  }
  return out;
}

/** Where the calling process sits in each hierarchy. */
export function ownCgroups(): Membership[] {
  return parseProcCgroup(readFile("/proc/self/cgroup"));
}

/**
 * The cgroup.procs file of the cgroup `own` (a process's /proc/PID/cgroup)
 * names in one hierarchy: the memory controller's on v1 and hybrid hosts,
 * else the first v1 hierarchy's, else the v2 one's (pure v2).
 */
export function ownProcsFile(
  own: readonly Membership[],
  root: string = CGROUP_ROOT,
): string | undefined {
  const procs = (dir: string, path: string) => `${dir}${path.replace(/\/+$/, "")}/cgroup.procs`;
  const v1 = own.find((m) => m.controllers.includes("memory")) ??
    own.find((m) => m.controllers.length > 0);
  if (v1) return procs(`${root}/${v1.controllers[0]}`, v1.path);
  const v2 = own.find((m) => m.id === 0);
  return v2 ? procs(root, v2.path) : undefined;
}

/**
 * Starts warmAttach (see fs.ts) at the very start of a command that will
 * put a process into a cgroup (run, create, start, exec). The kernel's grace
 * period lasts 5-25 ms on the hosts measured here, often longer than the run path
 * between the container's cgroup mkdir and the child's attach; begun here,
 * it overlaps module loading and spec building as well. The lock taken is
 * global, so any hierarchy will do, and the move is of this process into the
 * cgroup it is already in: nothing changes on the host. A cgroup mkdir
 * before the grace period ends waits for it (cgroup_mutex), no longer.
 */
export function warmAttachEarly(): void {
  let file: string | undefined;
  try {
    file = ownProcsFile(ownCgroups());
  } catch {
    return;
  }
  if (file) warmAttach(file);
}
