/**
 * cgroup v1: one hierarchy per controller (or per co-mounted group such as
 * "cpu,cpuacct"), each mounted at <root>/<controller>. The container gets a
 * directory in every hierarchy it needs, under the runtime's own cgroup in
 * that hierarchy (as /proc/self/cgroup lists it) or under --cgroup-parent.
 * @module
 */

import type { ContainerError } from "../errors.ts";
import type { Resources } from "../spec.ts";
import {
  applyWrites,
  hugetlbWrites,
  parentSegments,
  pathSegments,
  THROTTLES,
  validateResources,
} from "./common.ts";
import { v1DeviceWrites } from "./devices.ts";
import {
  ERRNO,
  exists,
  keyedValues,
  killAll,
  makeDir,
  numberIn,
  readFile,
  readOptional,
  readPids,
  removeDir,
  removeDirDraining,
  sleepSync,
  warmAttach,
  writeFile,
} from "./fs.ts";
import { type Membership, ownCgroups } from "./layout.ts";
import type { CgroupStats, ContainerCgroup, DriverOptions, LimitWrite } from "./types.ts";

/**
 * Controllers joined even without a limit: memory and cpuacct for the exit
 * report (OOM kills, peak memory, CPU time), freezer to stop every process
 * at once before killing, so a fork loop cannot outrun the clean-up.
 */
const ALWAYS = ["memory", "cpuacct", "freezer"];

/** v1 memory files show "unlimited" as a page-rounded 2^63-1. */
const UNLIMITED_FLOOR = 2 ** 62;

/** The files v1 writes for `r`, in an order the kernel accepts. */
export function v1Writes(r: Resources): LimitWrite[] {
  const out: LimitWrite[] = [];
  const m = r.memory ?? {};
  if (m.limit !== undefined) {
    out.push({
      controller: "memory",
      files: [["memory.limit_in_bytes", String(m.limit)]],
      what: `memory limit ${m.limit}`,
    });
  }
  if (m.reservation !== undefined) {
    out.push({
      controller: "memory",
      files: [["memory.soft_limit_in_bytes", String(m.reservation)]],
      what: `memory reservation ${m.reservation}`,
    });
  }
  // memsw is memory+swap, like docker's --memory-swap; it must not go below
  // memory.limit_in_bytes, which is why it is written after it.
  if (m.swap !== undefined) {
    out.push({
      controller: "memory",
      files: [["memory.memsw.limit_in_bytes", String(m.swap)]],
      what: `memory+swap limit ${m.swap}`,
      missingHint: "swap accounting is off in this kernel; boot with swapaccount=1",
    });
  }
  if (m.kernel !== undefined) {
    out.push({
      controller: "memory",
      files: [["memory.kmem.limit_in_bytes", String(m.kernel)]],
      what: `kernel memory limit ${m.kernel}`,
      // Since Linux 6.1 the file takes a write and enforces nothing.
      readBack: true,
      missingHint: "this kernel no longer has a kernel memory limit",
    });
  }
  if (m.kernelTCP !== undefined) {
    out.push({
      controller: "memory",
      files: [["memory.kmem.tcp.limit_in_bytes", String(m.kernelTCP)]],
      what: `kernel TCP buffer limit ${m.kernelTCP}`,
    });
  }
  if (m.swappiness !== undefined) {
    out.push({
      controller: "memory",
      files: [["memory.swappiness", String(m.swappiness)]],
      what: `memory swappiness ${m.swappiness}`,
    });
  }
  if (m.disableOOMKiller !== undefined) {
    out.push({
      controller: "memory",
      files: [["memory.oom_control", m.disableOOMKiller ? "1" : "0"]],
      what: `OOM killer ${m.disableOOMKiller ? "disabled" : "enabled"}`,
    });
  }
  const c = r.cpu ?? {};
  if (c.shares) {
    out.push({
      controller: "cpu",
      files: [["cpu.shares", String(c.shares)]],
      what: `cpu shares ${c.shares}`,
    });
  }
  // A fresh cgroup has no quota, so the period can change first.
  if (c.period) {
    out.push({
      controller: "cpu",
      files: [["cpu.cfs_period_us", String(c.period)]],
      what: `cpu period ${c.period}`,
    });
  }
  if (c.quota) {
    out.push({
      controller: "cpu",
      files: [["cpu.cfs_quota_us", String(c.quota)]],
      what: `cpu quota ${c.quota}`,
    });
  }
  if (c.cpus) {
    out.push({
      controller: "cpuset",
      files: [["cpuset.cpus", c.cpus]],
      what: `cpuset cpus ${c.cpus}`,
    });
  }
  if (c.mems) {
    out.push({
      controller: "cpuset",
      files: [["cpuset.mems", c.mems]],
      what: `cpuset mems ${c.mems}`,
    });
  }
  if (r.pids && r.pids.limit > 0) {
    out.push({
      controller: "pids",
      files: [["pids.max", String(r.pids.limit)]],
      what: `pids limit ${r.pids.limit}`,
    });
  }
  const weight = r.blockIO?.weight;
  if (weight) {
    // blkio.weight belongs to CFQ, gone since Linux 5.0; BFQ's takes the same 1..1000.
    out.push({
      controller: "blkio",
      files: [["blkio.weight", String(weight)], ["blkio.bfq.weight", String(weight)]],
      what: `block I/O weight ${weight}`,
      missingHint: "no proportional I/O scheduler (CFQ or BFQ) in this kernel",
    });
  }
  out.push(...v1BlockIoWrites(r), ...v1NetworkWrites(r), ...hugetlbWrites(r, "limit_in_bytes"));
  return out;
}

/** blkio's per-device weights and throttles, one write per device line. */
function v1BlockIoWrites(r: Resources): LimitWrite[] {
  const b = r.blockIO ?? {};
  const out: LimitWrite[] = [];
  const noCfq = "no CFQ or BFQ scheduler in this kernel";
  if (b.leafWeight) {
    out.push({
      controller: "blkio",
      files: [["blkio.leaf_weight", String(b.leafWeight)]],
      what: `block I/O leaf weight ${b.leafWeight}`,
      missingHint: "leaf weights were CFQ's, gone since Linux 5.0",
    });
  }
  for (const d of b.weightDevice ?? []) {
    const dev = `${d.major}:${d.minor}`;
    if (d.weight !== undefined) {
      out.push({
        controller: "blkio",
        files: [
          ["blkio.weight_device", `${dev} ${d.weight}`],
          ["blkio.bfq.weight_device", `${dev} ${d.weight}`],
        ],
        what: `block I/O weight ${d.weight} of device ${dev}`,
        missingHint: noCfq,
      });
    }
  }
  for (const d of b.weightDevice ?? []) {
    if (d.leafWeight === undefined) continue;
    const dev = `${d.major}:${d.minor}`;
    out.push({
      controller: "blkio",
      files: [["blkio.leaf_weight_device", `${dev} ${d.leafWeight}`]],
      what: `block I/O leaf weight ${d.leafWeight} of device ${dev}`,
      missingHint: "leaf weights were CFQ's, gone since Linux 5.0",
    });
  }
  for (const [field, file, what] of THROTTLES) {
    for (const d of b[field] ?? []) {
      const dev = `${d.major}:${d.minor}`;
      out.push({
        controller: "blkio",
        files: [[`blkio.throttle.${file}`, `${dev} ${d.rate}`]],
        what: `block I/O ${what} limit ${d.rate} of device ${dev}`,
      });
    }
  }
  return out;
}

/** net_cls's class id and net_prio's per-interface priorities (v1 only). */
function v1NetworkWrites(r: Resources): LimitWrite[] {
  const n = r.network ?? {};
  const out: LimitWrite[] = [];
  if (n.classID !== undefined) {
    out.push({
      controller: "net_cls",
      files: [["net_cls.classid", String(n.classID)]],
      what: `network class id ${n.classID}`,
    });
  }
  for (const p of n.priorities ?? []) {
    out.push({
      controller: "net_prio",
      files: [["net_prio.ifpriomap", `${p.name} ${p.priority}`]],
      what: `network priority ${p.priority} of ${p.name}`,
    });
  }
  return out;
}

/** Where the container sits in one v1 hierarchy. */
interface HierarchyDir {
  controllers: string[];
  dir: string;
  /** The runtime's own cgroup in the hierarchy. */
  ownDir: string;
}

class V1Cgroup implements ContainerCgroup {
  readonly version = "v1";
  /** Directories made, in creation order (parents first), each removed by destroy. */
  readonly #created: string[] = [];
  readonly #hierarchies: HierarchyDir[] = [];

  constructor(
    readonly name: string,
    readonly resources: Resources,
    readonly root: string,
    readonly parent: string | undefined,
    readonly warn: (message: string) => void,
    readonly warm: boolean,
  ) {}

  get paths(): readonly string[] {
    return this.#hierarchies.map((h) => h.dir);
  }

  #dirOf(controller: string): string | undefined {
    return this.#hierarchies.find((h) => h.controllers.includes(controller))?.dir;
  }

  create(memberships: readonly Membership[]): void {
    const writes = [...v1Writes(this.resources), ...v1DeviceWrites(this.resources.devices ?? [])];
    const wanted = new Set([...ALWAYS, ...writes.map((w) => w.controller!)]);
    try {
      for (const m of memberships) {
        const needed = m.controllers.filter((c) => wanted.has(c));
        if (m.id === 0 || needed.length === 0) continue;
        const dirs = this.#makeContainerDir(m, needed);
        if (dirs !== undefined) this.#hierarchies.push({ controllers: m.controllers, ...dirs });
      }
      if (this.resources.unified && Object.keys(this.resources.unified).length > 0) {
        for (const key of Object.keys(this.resources.unified)) {
          this.warn(`unified limit ${key} not applied: this host runs cgroup v1`);
        }
      }
      applyWrites(writes, (c) => (c === undefined ? undefined : this.#dirOf(c)), this.warn);
      if (this.warm && this.#hierarchies[0]) {
        warmAttach(`${this.#hierarchies[0].ownDir}/cgroup.procs`);
      }
    } catch (e) {
      this.#removeCreated();
      throw e;
    }
  }

  /**
   * Makes the container's directory in one hierarchy: a single mkdir when
   * the parent exists (the usual case). Undefined when the hierarchy is not
   * mounted where expected.
   */
  #makeContainerDir(
    m: Membership,
    needed: string[],
  ): { dir: string; ownDir: string } | undefined {
    const segments = [...parentSegments(m.path, this.parent), this.name];
    const cpuset = m.controllers.includes("cpuset");
    // Co-mounted hierarchies are reachable by each controller's name (symlinks)
    // or only by the joined name.
    for (const mount of [`${this.root}/${needed[0]}`, `${this.root}/${m.controllers.join(",")}`]) {
      const dir = `${mount}/${segments.join("/")}`;
      const ownDir = [mount, ...pathSegments(m.path)].join("/");
      try {
        // A directory left by a crashed run with the same id: empty it first.
        if (!this.#makeDir(dir, cpuset)) killAll(readPids(`${dir}/cgroup.procs`));
        return { dir, ownDir };
      } catch (e) {
        if ((e as ContainerError).errno !== ERRNO.ENOENT) throw e;
      }
      if (!exists(mount)) continue;
      let path = mount;
      for (const s of segments) {
        path += `/${s}`;
        this.#makeDir(path, cpuset);
      }
      return { dir, ownDir };
    }
    return undefined;
  }

  /** One mkdir (false when it existed), with a new cpuset directory's CPUs and nodes filled in. */
  #makeDir(dir: string, cpuset: boolean): boolean {
    const made = makeDir(dir);
    if (made) this.#created.push(dir);
    // A new cpuset cgroup has no CPUs and no memory nodes, and the kernel
    // refuses to attach a task to it until both are set: inherit the parent's.
    if (cpuset && (made || readOptional(`${dir}/cpuset.cpus`)?.trim() === "")) {
      const up = dir.slice(0, dir.lastIndexOf("/"));
      for (const file of ["cpuset.cpus", "cpuset.mems"]) {
        writeFile(`${dir}/${file}`, readFile(`${up}/${file}`).trim());
      }
    }
    return made;
  }

  addProcess(pid: number): void {
    for (const h of this.#hierarchies) writeFile(`${h.dir}/cgroup.procs`, String(pid));
  }

  stats(usage = true): CgroupStats {
    const mem = this.#dirOf("memory");
    const cpu = this.#dirOf("cpuacct");
    const stats: CgroupStats = { oomKilled: false };
    if (mem !== undefined) {
      if (usage) {
        stats.memoryPeakBytes = numberIn(readOptional(`${mem}/memory.max_usage_in_bytes`));
      }
      const oom = keyedValues(readOptional(`${mem}/memory.oom_control`));
      // oom_kill arrived in Linux 4.13; before it only under_oom tells.
      stats.oomKilled = (oom.get("oom_kill") ?? oom.get("under_oom") ?? 0) > 0;
      const limit = usage || stats.oomKilled
        ? numberIn(readOptional(`${mem}/memory.limit_in_bytes`))
        : undefined;
      if (limit !== undefined && limit < UNLIMITED_FLOOR) stats.memoryLimitBytes = limit;
    }
    if (usage && cpu !== undefined) {
      const ns = numberIn(readOptional(`${cpu}/cpuacct.usage`));
      if (ns !== undefined) stats.cpuUsageUsec = Math.round(ns / 1000);
    }
    return stats;
  }

  /**
   * Stops every process with the freezer, so none can fork while the list is
   * read, kills them all and thaws them so the SIGKILLs land.
   */
  #killFrozen(): void {
    const freezer = this.#dirOf("freezer");
    const dir = freezer ?? this.#hierarchies[0]?.dir;
    if (dir === undefined || readPids(`${dir}/cgroup.procs`).length === 0) return;
    if (freezer === undefined) {
      killAll(readPids(`${dir}/cgroup.procs`));
      return;
    }
    try {
      writeFile(`${freezer}/freezer.state`, "FROZEN");
      for (
        let i = 0;
        i < 200 && readOptional(`${freezer}/freezer.state`)?.trim() !== "FROZEN";
        i++
      ) {
        sleepSync(5);
      }
      killAll(readPids(`${freezer}/cgroup.procs`));
    } finally {
      try {
        writeFile(`${freezer}/freezer.state`, "THAWED");
      } catch { /* gone already */ }
    }
  }

  destroy(): void {
    let first: unknown;
    try {
      this.#killFrozen();
    } catch (e) {
      first = e;
    }
    for (const h of this.#hierarchies) {
      try {
        removeDirDraining(h.dir, () => killAll(readPids(`${h.dir}/cgroup.procs`)));
      } catch (e) {
        first ??= e;
      }
    }
    this.#removeCreated(this.paths);
    if (first !== undefined) throw first;
  }

  /** Removes the parent directories this cgroup made, deepest first; others may use them. */
  #removeCreated(removed: readonly string[] = []): void {
    for (const dir of [...this.#created].reverse()) {
      if (removed.includes(dir)) continue;
      try {
        removeDir(dir);
      } catch { /* still used by another container, or holds processes */ }
    }
  }
}

/** Creates the container's cgroup in every v1 hierarchy it needs and writes `resources`. */
export function createV1Cgroup(
  name: string,
  resources: Resources,
  opts: DriverOptions,
): ContainerCgroup {
  validateResources(resources);
  const cg = new V1Cgroup(name, resources, opts.root, opts.parent, opts.warn, opts.warm);
  cg.create(ownCgroups());
  return cg;
}
