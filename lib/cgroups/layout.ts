/**
 * Which cgroup layout the host runs, and where this process sits in it.
 * Pure v2 mounts cgroup2 at the root; hybrid mounts v1 controllers there with
 * a cgroup2 hierarchy at `unified/`; v1 has only per-controller mounts.
 * @module
 */

import { exists, readFile } from "./fs.ts";

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
