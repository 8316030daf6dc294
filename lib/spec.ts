/**
 * The OCI runtime-spec types (config.json) that every way into the runtime is
 * turned into: docker-like flags, an OCI bundle, an image's config. Only the
 * fields minicontainer reads are typed; the rest pass through untouched.
 * See https://github.com/opencontainers/runtime-spec/blob/main/config.md
 * @module
 */

/** A mount (config.md "Mounts"). */
export interface Mount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
  /** With the `idmap`/`ridmap` options: on-disk ids (containerID) to the ids they show as (hostID). */
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
}

/** A POSIX rlimit (config.md "POSIX process"). */
export interface Rlimit {
  type: string;
  soft: number;
  hard: number;
}

/** Capability sets by name, e.g. "CAP_CHOWN". */
export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** The process to run. */
export interface Process {
  terminal?: boolean;
  user: { uid: number; gid: number; umask?: number; additionalGids?: number[] };
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  consoleSize?: { height: number; width: number };
  ioPriority?: {
    class: "IOPRIO_CLASS_RT" | "IOPRIO_CLASS_BE" | "IOPRIO_CLASS_IDLE";
    priority: number;
  };
}

/** A namespace to create (no path) or join (path). */
export interface Namespace {
  type: "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup" | "time";
  path?: string;
}

/** A uid or gid range mapping for user namespaces. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** A device node to create in the container. */
export interface Device {
  type: "c" | "b" | "u" | "p";
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** A device cgroup rule. */
export interface DeviceRule {
  allow: boolean;
  type?: "a" | "c" | "b";
  major?: number;
  minor?: number;
  access?: string;
}

/** A block device's weight (blockIO.weightDevice). */
export interface WeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

/** A block device's rate limit (blockIO.throttle*Device). */
export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

/** Resource limits (config-linux.md "Control groups"). */
export interface Resources {
  memory?: {
    limit?: number;
    reservation?: number;
    swap?: number;
    /** Kernel memory limit (v1 memory.kmem.limit_in_bytes; no longer enforced by new kernels). */
    kernel?: number;
    /** Kernel TCP buffer limit (v1 memory.kmem.tcp.limit_in_bytes). */
    kernelTCP?: number;
    /** 0..100 (v1 memory.swappiness). */
    swappiness?: number;
    /** v1 memory.oom_control. */
    disableOOMKiller?: boolean;
  };
  cpu?: {
    shares?: number;
    quota?: number;
    period?: number;
    cpus?: string;
    mems?: string;
  };
  pids?: { limit: number };
  blockIO?: {
    weight?: number;
    leafWeight?: number;
    weightDevice?: WeightDevice[];
    throttleReadBpsDevice?: ThrottleDevice[];
    throttleWriteBpsDevice?: ThrottleDevice[];
    throttleReadIOPSDevice?: ThrottleDevice[];
    throttleWriteIOPSDevice?: ThrottleDevice[];
  };
  /** Huge page limits by page size ("2MB", "1GB"). */
  hugepageLimits?: { pageSize: string; limit: number }[];
  /** v1 net_cls and net_prio. */
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  devices?: DeviceRule[];
  /** Seen as cgroup v2 key/value pairs when the host runs v2. */
  unified?: Record<string, string>;
}

/** A seccomp syscall rule (config-linux.md "Seccomp"). */
export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

/** A seccomp profile. */
export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: SeccompSyscall[];
}

/** Linux-specific configuration. */
export interface Linux {
  namespaces: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  devices?: Device[];
  cgroupsPath?: string;
  resources?: Resources;
  seccomp?: Seccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
  sysctl?: Record<string, string>;
  personality?: { domain: "LINUX" | "LINUX32"; flags?: string[] };
}

/** A hook (config.md "POSIX-platform Hooks"). */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** Hooks by the point of the lifecycle they run at. */
export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

/** A container configuration: the one object the executor runs. */
export interface Spec {
  ociVersion: string;
  process: Process;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: Mount[];
  linux: Linux;
  annotations?: Record<string, string>;
  hooks?: Hooks;
}

/** The OCI runtime-spec version this runtime writes. */
export const OCI_VERSION = "1.2.0";
