/**
 * Linux capabilities: their names and numbers, docker's default set, and
 * the --cap-add / --cap-drop / --privileged arithmetic that turns flags into
 * the spec's capability sets.
 * @module
 */

import { ContainerError } from "../errors.ts";
import type { Capabilities } from "../spec.ts";

/** Every capability by name, with its bit number (linux/capability.h). */
export const CAPABILITIES: Readonly<Record<string, number>> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
};

/** Every capability name, in bit order. */
export const ALL_CAPABILITIES: readonly string[] = Object.keys(CAPABILITIES);

/** The capabilities a `docker run` container keeps when no flag says otherwise. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** The flag word meaning every capability. */
const ALL = "ALL";

/**
 * A capability name as the spec writes it: "net_admin", "CAP_NET_ADMIN" and
 * "Net_Admin" are all "CAP_NET_ADMIN"; "all" is "ALL". Unknown names throw.
 */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === ALL) return ALL;
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!(full in CAPABILITIES)) {
    throw new ContainerError(
      "capability",
      JSON.stringify(name),
      undefined,
      "unknown capability name",
    );
  }
  return full;
}

/** The bit number of a capability name (as the spec writes it); unknown names throw. */
export function capabilityNumber(name: string): number {
  const full = normalizeCapability(name);
  if (full === ALL) {
    throw new ContainerError("capability", '"ALL"', undefined, "is not a single capability");
  }
  return CAPABILITIES[full];
}

function unique(list: Iterable<string>): string[] {
  return [...new Set(list)];
}

/**
 * The spec's capability sets for docker's flags. `--privileged` keeps every
 * capability and ignores the other flags. Otherwise, as docker does: with ALL
 * among the adds every capability but the drops; else with ALL among the
 * drops only the adds; else the defaults minus the drops plus the adds. The
 * bounding, effective and permitted sets are that list; the inheritable and
 * ambient sets stay empty (docker's fix for CVE-2022-24769), so a non-root
 * command gains capabilities only through file capabilities it is allowed.
 */
export function resolveCapabilities(
  add: readonly string[],
  drop: readonly string[],
  privileged: boolean,
): Capabilities {
  // Validate every name even when --privileged makes them moot: a typo is
  // still bad input.
  const adds = unique(add.map(normalizeCapability));
  const drops = unique(drop.map(normalizeCapability));
  let caps: string[];
  if (privileged) caps = [...ALL_CAPABILITIES];
  else if (adds.includes(ALL)) caps = ALL_CAPABILITIES.filter((c) => !drops.includes(c));
  else if (drops.includes(ALL)) caps = adds;
  else caps = unique([...DEFAULT_CAPABILITIES.filter((c) => !drops.includes(c)), ...adds]);
  return {
    bounding: [...caps],
    effective: [...caps],
    permitted: [...caps],
    inheritable: [],
    ambient: [],
  };
}

let lastCap: number | undefined;

/**
 * The highest capability number the running kernel knows
 * (/proc/sys/kernel/cap_last_cap). Capabilities above it cannot be named to
 * the kernel: dropping them from the bounding set fails with EINVAL and
 * setting them with capset fails with EPERM, so the child's ops skip them.
 * Without /proc, the highest capability in {@link CAPABILITIES}.
 */
export function lastCapability(): number {
  if (lastCap === undefined) {
    let value = NaN;
    try {
      value = Number.parseInt(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim(), 10);
    } catch {
      // No /proc: assume the kernel knows what this table knows.
    }
    lastCap = Number.isInteger(value) && value >= 0 && value < 64
      ? value
      : Math.max(...Object.values(CAPABILITIES));
  }
  return lastCap;
}

let held: bigint | undefined;

/**
 * The runtime's own permitted capabilities (CapPrm of /proc/self/status), as
 * a bit mask. A child without a new user namespace starts with these and can
 * never gain more, so `--privileged` on a host that withholds some (a
 * runtime inside another container) gets what there is, as with docker.
 * Without /proc, every capability.
 */
export function heldCapabilities(): bigint {
  if (held === undefined) {
    held = (1n << 64n) - 1n;
    try {
      const line = Deno.readTextFileSync("/proc/self/status").split("\n")
        .find((l) => l.startsWith("CapPrm:"));
      if (line) held = BigInt(`0x${line.slice(7).trim()}`);
    } catch {
      // No /proc: assume nothing is withheld; capset will tell.
    }
  }
  return held;
}

/**
 * The capabilities of `sets` (spec.process.capabilities) a child without
 * a new user namespace cannot have: unknown to the running kernel, or
 * withheld from the runtime itself (a host that is itself a container).
 * They are left out of every set; the caller names them.
 */
export function unavailableCapabilities(
  sets: Capabilities,
  held = heldCapabilities(),
  last = lastCapability(),
): string[] {
  const out = new Set<string>();
  for (const list of Object.values(sets)) {
    for (const name of (list ?? []) as string[]) {
      const n = capabilityNumber(name);
      if (n > last || !((held >> BigInt(n)) & 1n)) out.add(normalizeCapability(name));
    }
  }
  return [...out];
}
