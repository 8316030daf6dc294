/**
 * A container's cgroup: created with its limits before the child runs,
 * joined by the child while it waits on the sync pipe, read for the exit
 * report, removed on every exit path. The layout (v1, v2, hybrid) is
 * detected at run time; v1.ts and v2.ts hold each version's specifics.
 *
 * ```ts
 * const cg = createCgroup(id, spec.linux.resources ?? {}, { warn: (s) => console.error(s) });
 * cg.addProcess(childPid); // before releasing the child
 * const { oomKilled, memoryLimitBytes } = cg.stats(); // after it exited
 * cg.destroy();
 * ```
 * @module
 */

import type { Resources } from "../spec.ts";
import { cgroupName } from "./common.ts";
import { CGROUP_ROOT, detectCgroupLayout } from "./layout.ts";
import type { CgroupOptions, ContainerCgroup } from "./types.ts";
import { createV1Cgroup } from "./v1.ts";
import { createV2Cgroup } from "./v2.ts";

export { type CgroupLayout, detectCgroupLayout } from "./layout.ts";
export type { CgroupOptions, CgroupStats, ContainerCgroup } from "./types.ts";

/**
 * Creates the cgroup `minicontainer-<containerId>` under the runtime's own
 * cgroup (or `opts.parent`) and writes `resources` into it. A limit the host
 * cannot apply is reported through `opts.warn`; a value the kernel refuses
 * throws a ContainerError (operation, path, errno) after removing whatever
 * was created. A hybrid host is driven through its v1 controllers.
 */
export function createCgroup(
  containerId: string,
  resources: Resources,
  opts: CgroupOptions = {},
): ContainerCgroup {
  const name = opts.name ?? cgroupName(containerId);
  const root = (opts.root ?? CGROUP_ROOT).replace(/\/+$/, "");
  const driver = {
    root,
    parent: opts.parent,
    warn: opts.warn ?? ((message: string) => console.error(`warning: ${message}`)),
    // A fake root (tests) must see only the driver's own writes.
    warm: opts.root === undefined,
  };
  return detectCgroupLayout(root) === "v2"
    ? createV2Cgroup(name, resources, driver)
    : createV1Cgroup(name, resources, driver);
}
