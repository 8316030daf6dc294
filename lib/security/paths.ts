/**
 * The /proc and /sys paths a container must not see or change, as runc and
 * Docker list them. Data only: the mounts concern masks each masked path
 * (/dev/null bound over a file, an empty read-only tmpfs over a directory)
 * and remounts each read-only path read-only.
 * @module
 */

/**
 * Hidden: kernel memory and keys, timing side channels, hardware and
 * firmware interfaces, and the power-capping counters of the PLATYPUS attack.
 */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Visible but read-only: host-wide kernel settings and the SysRq trigger. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];
