/**
 * What killed `rootfs build`s leave: their scratch directories, named after
 * their owner. Apart from default.ts, which `run` loads on every start.
 * @module
 */

import { diskUsage } from "../state/disk_usage.ts";
import { ownerAlive } from "../state/liveness.ts";

/**
 * Removes the scratch directories of `rootfs build`s that were killed
 * (`.rootfs-build-PID-START-...` whose owner is gone) in `parent`; resolves
 * to the paths removed and the bytes they held. Builds that run are left.
 */
export function reclaimBuilds(parent: string): { paths: string[]; bytes: number } {
  const out = { paths: [] as string[], bytes: 0 };
  let names: string[];
  try {
    names = [...Deno.readDirSync(parent)].map((e) => e.name);
  } catch {
    return out;
  }
  for (const name of names) {
    const m = /^\.rootfs-build-(.*)$/.exec(name);
    if (!m || ownerAlive(m[1])) continue;
    const bytes = diskUsage(`${parent}/${name}`);
    try {
      Deno.removeSync(`${parent}/${name}`, { recursive: true });
      out.paths.push(`${parent}/${name}`);
      out.bytes += bytes;
    } catch { /* removed meanwhile */ }
  }
  return out;
}
