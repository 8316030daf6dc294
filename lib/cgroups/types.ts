/**
 * The one interface both cgroup drivers (v1, v2) implement, and what it reports.
 * @module
 */

/** What the container's cgroup measured, read once the container has exited. */
export interface CgroupStats {
  /** Highest memory use seen (v1 memory.max_usage_in_bytes, v2 memory.peak). */
  memoryPeakBytes?: number;
  /** CPU time used by every process of the container, in microseconds. */
  cpuUsageUsec?: number;
  /** Whether the kernel's OOM killer killed a process of the container. */
  oomKilled: boolean;
  /** The memory limit the kernel enforced; undefined when unlimited. */
  memoryLimitBytes?: number;
}

/** A container's cgroup, created with its limits written, before any process joins it. */
export interface ContainerCgroup {
  /** Which driver manages it. */
  readonly version: "v1" | "v2";
  /** The container's cgroup directories: one per v1 hierarchy, or the single v2 one. */
  readonly paths: readonly string[];
  /**
   * Moves `pid` (all its threads) into the cgroup. Call it while the child
   * still waits on the sync pipe, so the limits hold before its first
   * instruction. Throws a ContainerError naming the cgroup.procs path.
   */
  addProcess(pid: number): void;
  /**
   * Peak memory, CPU time and OOM kills so far; never throws (missing values
   * stay undefined). With `usage` false only whether the OOM killer struck
   * (and then the limit) is read: what a run needs once its child is gone.
   */
  stats(usage?: boolean): CgroupStats;
  /**
   * Kills every process left in the cgroup and removes its directories
   * (and the parent directories it created). Idempotent: a cgroup that is
   * already gone is not an error. Throws a ContainerError only when a
   * directory cannot be removed.
   */
  destroy(): void;
}

/** How to create a container's cgroup. */
export interface CgroupOptions {
  /**
   * `--cgroup-parent`: absolute within the hierarchy ("/ci/jobs"), or relative
   * to the runtime's own cgroup. Missing components are created.
   */
  parent?: string;
  /**
   * Receives one sentence per limit this host cannot apply, without a
   * "warning:" prefix (default: printed on stderr after "warning: ").
   */
  warn?: (message: string) => void;
  /**
   * The cgroup's own directory name (default `minicontainer-<id>`): an OCI
   * bundle's cgroupsPath names the container's cgroup itself.
   */
  name?: string;
  /** Where the cgroup filesystems are mounted (default /sys/fs/cgroup); tests point it at a fake. */
  root?: string;
}

/** What createCgroup hands a driver. */
export interface DriverOptions {
  root: string;
  parent?: string;
  warn: (message: string) => void;
  /** Pre-pay the kernel's first-attach wait (see warmAttach); only on the real cgroupfs. */
  warm: boolean;
}

/**
 * One limit as the files a driver writes for it. The first candidate file
 * that exists is written; when none exists the limit is not applied and a
 * warning says so.
 */
export interface LimitWrite {
  /** The controller that provides the file; undefined for core cgroup files. */
  controller?: string;
  /** [file, value] candidates in order of preference. */
  files: [string, string][];
  /** The limit in words, for warnings: "memory limit 67108864". */
  what: string;
  /**
   * Why the file may be missing, appended to the warning; with no `files`,
   * why the limit cannot be applied on this host at all.
   */
  missingHint?: string;
  /** Read the file back: a kernel that takes the write and keeps its old value gets a warning. */
  readBack?: boolean;
}
