/**
 * cgroup v2: one hierarchy. The container's cgroup is a leaf below the
 * runtime's own cgroup (the "0::" line of /proc/self/cgroup) or below
 * --cgroup-parent; the controllers its limits need are enabled in the
 * parent's cgroup.subtree_control, and in the ancestors' where missing.
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
import { attachDeviceFilter } from "./devices.ts";
import {
  ERRNO,
  keyedValues,
  killAll,
  makeDir,
  numberIn,
  readOptional,
  readPids,
  removeDir,
  removeDirDraining,
  sleepSync,
  warmAttach,
  words,
  writeFile,
} from "./fs.ts";
import { ownCgroups } from "./layout.ts";
import type { CgroupStats, ContainerCgroup, DriverOptions, LimitWrite } from "./types.ts";

/**
 * The leaf that takes the processes of a cgroup that must enable subtree
 * controllers: v2 refuses controllers in a cgroup that holds processes
 * ("no internal processes"). No container is named this: theirs start
 * with "minicontainer-".
 */
export const LEAF_NAME = "minicontainer.init";

/** cpu.shares (2..262144) to cpu.weight (1..10000), the conversion runc and crun use. */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio.weight (10..1000) to io.weight (1..10000), the conversion runc uses. */
export function blkioToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** The files v2 writes for `r`. */
export function v2Writes(r: Resources): LimitWrite[] {
  const out: LimitWrite[] = [];
  const m = r.memory ?? {};
  const max = (n: number) => (n < 0 ? "max" : String(n));
  if (m.limit !== undefined) {
    out.push({
      controller: "memory",
      files: [["memory.max", max(m.limit)]],
      what: `memory limit ${m.limit}`,
    });
  }
  if (m.reservation !== undefined) {
    out.push({
      controller: "memory",
      files: [["memory.low", max(m.reservation)]],
      what: `memory reservation ${m.reservation}`,
    });
  }
  // The spec's swap is memory+swap (docker's --memory-swap); v2 limits swap alone.
  if (m.swap !== undefined && (m.swap < 0 || (m.limit !== undefined && m.limit > 0))) {
    const swap = m.swap < 0 ? "max" : String(m.swap - m.limit!);
    out.push({
      controller: "memory",
      files: [["memory.swap.max", swap]],
      what: `memory+swap limit ${m.swap}`,
      missingHint: "this kernel has no swap support",
    });
  }
  const c = r.cpu ?? {};
  if (c.shares) {
    out.push({
      controller: "cpu",
      files: [["cpu.weight", String(sharesToWeight(c.shares))]],
      what: `cpu shares ${c.shares}`,
    });
  }
  if (c.quota || c.period) {
    const quota = c.quota && c.quota > 0 ? String(c.quota) : "max";
    out.push({
      controller: "cpu",
      files: [["cpu.max", `${quota} ${c.period || 100000}`]],
      what: `cpu quota ${c.quota ?? "max"} per period ${c.period || 100000}`,
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
    // BFQ reads its own file, in blkio's 1..1000 range; io.weight serves io.cost.
    out.push({
      controller: "io",
      files: [
        ["io.bfq.weight", String(weight)],
        ["io.weight", `default ${blkioToIoWeight(weight)}`],
      ],
      what: `block I/O weight ${weight}`,
    });
  }
  out.push(...v2BlockIoWrites(r), ...hugetlbWrites(r, "max"), ...v2Unsupported(r));
  for (const [key, value] of Object.entries(r.unified ?? {})) {
    const controller = key.slice(0, key.indexOf("."));
    out.push({
      controller: controller === "cgroup" ? undefined : controller,
      files: [[key, value]],
      what: `unified limit ${key}=${value}`,
    });
  }
  return out;
}

/** io's per-device weights (io.bfq.weight or io.weight) and limits (io.max). */
function v2BlockIoWrites(r: Resources): LimitWrite[] {
  const b = r.blockIO ?? {};
  const out: LimitWrite[] = [];
  for (const d of b.weightDevice ?? []) {
    const dev = `${d.major}:${d.minor}`;
    if (d.weight === undefined) continue;
    out.push({
      controller: "io",
      files: [
        ["io.bfq.weight", `${dev} ${d.weight}`],
        ["io.weight", `${dev} ${blkioToIoWeight(d.weight)}`],
      ],
      what: `block I/O weight ${d.weight} of device ${dev}`,
    });
  }
  const keys = {
    throttleReadBpsDevice: "rbps",
    throttleWriteBpsDevice: "wbps",
    throttleReadIOPSDevice: "riops",
    throttleWriteIOPSDevice: "wiops",
  } as const;
  for (const [field, , what] of THROTTLES) {
    for (const d of b[field] ?? []) {
      const dev = `${d.major}:${d.minor}`;
      out.push({
        controller: "io",
        files: [["io.max", `${dev} ${keys[field]}=${d.rate}`]],
        what: `block I/O ${what} limit ${d.rate} of device ${dev}`,
      });
    }
  }
  return out;
}

/** Fields of the spec that cgroup v2 has no file for: a warning each. */
function v2Unsupported(r: Resources): LimitWrite[] {
  const m = r.memory ?? {};
  const b = r.blockIO ?? {};
  const none = (what: string, hint = "cgroup v2 has no equivalent"): LimitWrite => ({
    files: [],
    what,
    missingHint: hint,
  });
  const out: LimitWrite[] = [];
  if (m.kernel !== undefined) out.push(none(`kernel memory limit ${m.kernel}`));
  if (m.kernelTCP !== undefined) out.push(none(`kernel TCP buffer limit ${m.kernelTCP}`));
  if (m.swappiness !== undefined) out.push(none(`memory swappiness ${m.swappiness}`));
  if (m.disableOOMKiller) out.push(none("disabling the OOM killer"));
  if (b.leafWeight || b.weightDevice?.some((d) => d.leafWeight !== undefined)) {
    out.push(none("block I/O leaf weights"));
  }
  if (r.network?.classID !== undefined) {
    out.push(none(`network class id ${r.network.classID}`, "cgroup v2 has no net_cls"));
  }
  for (const p of r.network?.priorities ?? []) {
    out.push(none(`network priority ${p.priority} of ${p.name}`, "cgroup v2 has no net_prio"));
  }
  return out;
}

function parentOf(dir: string): string {
  return dir.slice(0, dir.lastIndexOf("/"));
}

class V2Cgroup implements ContainerCgroup {
  readonly version = "v2";
  readonly #created: string[] = [];
  readonly dir: string;
  readonly #base: string;
  /** The runtime's own cgroup directory. */
  #ownDir: string;

  constructor(
    name: string,
    readonly resources: Resources,
    readonly root: string,
    parent: string | undefined,
    readonly warn: (message: string) => void,
    readonly warm: boolean,
  ) {
    let own = ownCgroups().find((m) => m.id === 0)?.path ?? "/";
    this.#ownDir = [root, ...pathSegments(own)].join("/");
    // A runtime already moved into the leaf (see LEAF_NAME) counts as its parent's.
    if (own.endsWith(`/${LEAF_NAME}`)) own = parentOf(own);
    const segments = parentSegments(own, parent);
    this.#base = [root, ...segments].join("/");
    this.dir = `${this.#base}/${name}`;
  }

  get paths(): readonly string[] {
    return [this.dir];
  }

  create(): void {
    const writes = v2Writes(this.resources);
    const needed = new Set<string>();
    for (const w of writes) if (w.controller) needed.add(w.controller);
    try {
      this.#makeDirs();
      // memory.events and memory.peak feed the exit report, but without a
      // limit they are not worth moving the caller's processes (see #moveToLeaf).
      const limited = needed.size > 0;
      needed.add("memory");
      const enabled = this.#enable(this.#base, [...needed].sort(), limited);
      applyWrites(
        writes,
        (c) => (c === undefined || enabled.has(c) ? this.dir : undefined),
        this.warn,
      );
      // v2 has no devices file: the rules are a BPF program on the directory.
      if (this.resources.devices?.length) attachDeviceFilter(this.dir, this.resources.devices);
      // After any move into the leaf, which the warm-up must not undo.
      if (this.warm) warmAttach(`${this.#ownDir}/cgroup.procs`);
    } catch (e) {
      this.#removeCreated();
      throw e;
    }
  }

  /** One mkdir when the parent exists; otherwise every missing component below the root. */
  #makeDirs(): void {
    let made: boolean;
    try {
      made = makeDir(this.dir);
    } catch (e) {
      if ((e as ContainerError).errno !== ERRNO.ENOENT) throw e;
      let path = this.root;
      for (const s of this.dir.slice(this.root.length + 1).split("/")) {
        path += `/${s}`;
        if (makeDir(path)) this.#created.push(path);
      }
      return;
    }
    if (made) this.#created.push(this.dir);
    // A directory left by a crashed run with the same id: empty it first.
    else killAll(readPids(`${this.dir}/cgroup.procs`));
  }

  /**
   * Makes `controllers` available to `dir`'s children: those not yet in its
   * cgroup.subtree_control are enabled there, after enabling them in the
   * ancestors when `dir` itself lacks them. Returns what `dir` now enables.
   * Without `mayMove`, a `dir` holding processes is left as it is.
   */
  #enable(dir: string, controllers: string[], mayMove: boolean): Set<string> {
    const enabled = words(readOptional(`${dir}/cgroup.subtree_control`));
    const missing = controllers.filter((c) => !enabled.has(c));
    if (missing.length === 0) return enabled;
    let available = words(readOptional(`${dir}/cgroup.controllers`));
    const absent = missing.filter((c) => !available.has(c));
    if (absent.length > 0 && dir !== this.root) {
      const above = this.#enable(parentOf(dir), absent, mayMove);
      if (absent.some((c) => above.has(c))) {
        available = words(readOptional(`${dir}/cgroup.controllers`));
      }
    }
    const toEnable = missing.filter((c) => available.has(c));
    if (toEnable.length === 0) return enabled;
    const file = `${dir}/cgroup.subtree_control`;
    const value = toEnable.map((c) => `+${c}`).join(" ");
    try {
      writeFile(file, value);
    } catch (e) {
      if ((e as ContainerError).errno !== ERRNO.EBUSY) throw e;
      if (!mayMove) return enabled;
      // Twice at most: main.ts's early attach warm-up writes this process
      // into the cgroup it started in, and on a loaded host that one write
      // may reach the kernel only after the first move (once controllers
      // are enabled, it fails and changes nothing).
      for (let round = 0;; round++) {
        this.#moveToLeaf(dir);
        try {
          writeFile(file, value);
          break;
        } catch (again) {
          if (round > 0 || (again as ContainerError).errno !== ERRNO.EBUSY) throw again;
        }
      }
    }
    for (const c of toEnable) enabled.add(c);
    return enabled;
  }

  /**
   * Moves the processes of `dir` (the runtime itself, the shell that started
   * it) into the leaf `dir`/minicontainer.init, the way dind and podman do,
   * so that `dir` may enable controllers for its children.
   */
  #moveToLeaf(dir: string): void {
    const leaf = `${dir}/${LEAF_NAME}`;
    makeDir(leaf);
    if (dir === this.#ownDir) this.#ownDir = leaf;
    for (const pid of readPids(`${dir}/cgroup.procs`)) {
      try {
        writeFile(`${leaf}/cgroup.procs`, String(pid));
      } catch (e) {
        if ((e as ContainerError).errno !== ERRNO.ESRCH) throw e;
      }
    }
  }

  addProcess(pid: number): void {
    writeFile(`${this.dir}/cgroup.procs`, String(pid));
  }

  stats(usage = true): CgroupStats {
    const d = this.dir;
    const events = keyedValues(readOptional(`${d}/memory.events`));
    const oomKilled = (events.get("oom_kill") ?? 0) > 0;
    if (!usage) {
      return oomKilled
        ? { oomKilled, memoryLimitBytes: numberIn(readOptional(`${d}/memory.max`)) }
        : { oomKilled };
    }
    const cpu = keyedValues(readOptional(`${d}/cpu.stat`));
    return {
      memoryPeakBytes: numberIn(readOptional(`${d}/memory.peak`)),
      cpuUsageUsec: cpu.get("usage_usec"),
      oomKilled,
      memoryLimitBytes: numberIn(readOptional(`${d}/memory.max`)),
    };
  }

  /** Kills everything in the cgroup: cgroup.kill (Linux 5.14+), else freeze, kill, thaw. */
  #kill(): void {
    try {
      writeFile(`${this.dir}/cgroup.kill`, "1");
      return;
    } catch (e) {
      if ((e as ContainerError).errno !== ERRNO.ENOENT) throw e;
    }
    if (readPids(`${this.dir}/cgroup.procs`).length === 0) return;
    try {
      writeFile(`${this.dir}/cgroup.freeze`, "1");
      for (
        let i = 0;
        i < 200 && keyedValues(readOptional(`${this.dir}/cgroup.events`)).get("frozen") !== 1;
        i++
      ) {
        sleepSync(5);
      }
    } catch { /* no freezer (before 5.2): kill as they come */ }
    killAll(readPids(`${this.dir}/cgroup.procs`));
    try {
      writeFile(`${this.dir}/cgroup.freeze`, "0");
    } catch { /* no freezer */ }
  }

  destroy(): void {
    let first: unknown;
    try {
      this.#kill();
    } catch (e) {
      // ENOENT of the directory itself: destroyed already.
      if ((e as ContainerError).errno !== ERRNO.ENOENT) first = e;
    }
    try {
      removeDirDraining(this.dir, () => killAll(readPids(`${this.dir}/cgroup.procs`)));
    } catch (e) {
      first ??= e;
    }
    this.#removeCreated([this.dir]);
    if (first !== undefined) throw first;
  }

  #removeCreated(removed: readonly string[] = []): void {
    for (const dir of [...this.#created].reverse()) {
      if (removed.includes(dir)) continue;
      try {
        removeDir(dir);
      } catch { /* still used by another container */ }
    }
  }
}

/** Creates the container's v2 cgroup, enables the controllers its limits need and writes them. */
export function createV2Cgroup(
  name: string,
  resources: Resources,
  opts: DriverOptions,
): ContainerCgroup {
  validateResources(resources);
  const cg = new V2Cgroup(name, resources, opts.root, opts.parent, opts.warn, opts.warm);
  cg.create();
  return cg;
}
