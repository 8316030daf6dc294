/**
 * docker's resource flags (`--memory 64m`, `--cpus 0.5`, `--ulimit
 * nofile=64:64`, ...) to the spec's linux.resources and process.rlimits,
 * with docker's units, defaults and checks. Bad input is a usage error
 * (exit 125) raised before anything is created.
 * @module
 */

import { RLIMITS } from "../container/rlimits.ts";
import { usageError } from "../errors.ts";
import type { Resources, Rlimit } from "../spec.ts";

/** The flags as given on the command line. */
export interface ResourceFlags {
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: string;
  blkioWeight?: string;
  /** `--ulimit NAME=SOFT[:HARD]`, repeatable. */
  ulimits?: string[];
}

/** docker refuses memory limits below 6 MiB: no container starts in less. */
const MIN_MEMORY = 6 * 1024 * 1024;
/** cpu.shares bounds the kernel keeps (MIN_SHARES, MAX_SHARES); 0 means not set. */
const MAX_SHARES = 262144;
const SHARES_RANGE = `the range is 2 to ${MAX_SHARES} (0: not set)`;
/** The most pids a kernel has (PID_MAX_LIMIT on 64-bit): pids.max refuses more. */
const PID_MAX_LIMIT = 4194304;
/** The CFS period docker uses with --cpus, in microseconds. */
const CPU_PERIOD = 100_000;

const UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

function invalid(flag: string, value: string, why: string): Error {
  return usageError(`invalid value "${value}" for --${flag}: ${why}`);
}

/** The largest size taken: 2^53-1 bytes (just below 8 PiB), past which numbers lose precision. */
const MAX_BYTES = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A size in docker's spelling ("64m", "1g", "512k", "100b", "1.5GiB", bytes)
 * in bytes, computed exactly: a fraction must come to a whole number of
 * bytes ("0.5" is refused, not rounded to 0, which would mean no limit).
 */
export function parseBytes(flag: string, text: string): number {
  const m = /^(\d+)(?:\.(\d+))? ?([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw invalid(flag, text, "expected a size such as 512k, 64m or 1g");
  const fraction = m[2] ?? "";
  const scaled = BigInt(m[1] + fraction) * BigInt(UNITS[m[3].toLowerCase()]);
  const scale = 10n ** BigInt(fraction.length);
  if (scaled % scale !== 0n) throw invalid(flag, text, "the size is not a whole number of bytes");
  const bytes = scaled / scale;
  if (bytes > MAX_BYTES) {
    throw invalid(flag, text, "the size is too large (it must be below 8 PiB)");
  }
  return Number(bytes);
}

/** An integer written in decimal digits (an optional "-"), exactly, within [min, max]. */
export function parseIntegerIn(
  flag: string,
  text: string,
  min: number,
  max: number,
  why = `the range is ${min} to ${max}`,
): number {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) throw invalid(flag, text, "expected an integer");
  const n = BigInt(t);
  if (n < BigInt(min) || n > BigInt(max)) throw invalid(flag, text, why);
  return Number(n);
}

/** Parses a CPU or memory-node list ("0-3", "0,2", "0-1,3") into its members. */
export function parseCpuList(flag: string, text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw invalid(flag, text, 'expected a list such as "0-3" or "0,2"');
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw invalid(flag, text, `range ${part} runs backwards`);
    // The kernel numbers CPUs and nodes below 8192 (NR_CPUS); this also bounds the loop.
    if (hi >= 8192) throw invalid(flag, text, `${hi} is beyond any CPU or memory node number`);
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}

function readList(path: string): number[] | undefined {
  try {
    return parseCpuList("", Deno.readTextFileSync(path).trim());
  } catch {
    return undefined;
  }
}

/** The CPUs this process may run on (docker counts the same: the affinity mask). */
function allowedCpus(): number[] {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
    if (m) return parseCpuList("", m[1]);
  } catch { /* fall through */ }
  return Array.from({ length: navigator.hardwareConcurrency }, (_, i) => i);
}

function checkAvailable(flag: string, text: string, wanted: number[], have?: number[]): void {
  if (have === undefined) return;
  const missing = wanted.filter((n) => !have.includes(n));
  if (missing.length > 0) {
    throw invalid(flag, text, `${missing.join(",")} not available on this host`);
  }
}

/** docker's ulimit names, each an RLIMIT_* resource. */
export const ULIMIT_NAMES = [
  "as",
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack",
] as const;

function ulimitValue(text: string, part: string): number {
  if (part === "unlimited" || part === "-1") return -1;
  if (!/^\d+$/.test(part)) {
    throw invalid("ulimit", text, `"${part}" is not a number, -1 or unlimited`);
  }
  if (BigInt(part) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid("ulimit", text, `"${part}" is too large (at most 2^53-1, or unlimited)`);
  }
  return Number(part);
}

/** Parses `--ulimit NAME=SOFT[:HARD]` (HARD defaults to SOFT; -1 or "unlimited" for no limit). */
export function parseUlimit(text: string): Rlimit {
  const m = /^([a-z]+)=([^:]+)(?::(.+))?$/.exec(text.trim());
  if (!m) throw invalid("ulimit", text, "expected NAME=SOFT[:HARD]");
  const [, name, softText, hardText] = m;
  if (!(ULIMIT_NAMES as readonly string[]).includes(name)) {
    throw invalid("ulimit", text, `unknown limit "${name}" (one of ${ULIMIT_NAMES.join(", ")})`);
  }
  const type = `RLIMIT_${name.toUpperCase()}`;
  if (RLIMITS[type] === undefined) throw invalid("ulimit", text, `no ${type} on this system`);
  const soft = ulimitValue(text, softText);
  const hard = hardText === undefined ? soft : ulimitValue(text, hardText);
  if (hard !== -1 && (soft === -1 || soft > hard)) {
    throw invalid("ulimit", text, "the soft limit is above the hard limit");
  }
  return { type, soft, hard };
}

/**
 * Turns the resource flags into the spec's linux.resources and
 * process.rlimits. docker's defaults apply: with --memory alone the
 * container may swap as much again (memory+swap = 2 × memory); 0 means
 * "not set" for --cpus, --cpu-shares and --blkio-weight, and 0 or -1 means
 * unlimited for --pids-limit.
 */
export function resourcesFromFlags(f: ResourceFlags): { resources: Resources; rlimits: Rlimit[] } {
  const resources: Resources = {};
  const memory: NonNullable<Resources["memory"]> = {};
  if (f.memory !== undefined) {
    memory.limit = parseBytes("memory", f.memory);
    if (memory.limit > 0 && memory.limit < MIN_MEMORY) {
      throw invalid("memory", f.memory, "the minimum memory limit is 6MiB");
    }
    if (memory.limit === 0) delete memory.limit;
  }
  if (f.memoryReservation !== undefined) {
    const r = parseBytes("memory-reservation", f.memoryReservation);
    if (memory.limit !== undefined && r > memory.limit) {
      throw invalid(
        "memory-reservation",
        f.memoryReservation,
        "the reservation must not exceed --memory",
      );
    }
    if (r > 0) memory.reservation = r;
  }
  if (f.memorySwap !== undefined) {
    const t = f.memorySwap.trim();
    const swap = t === "-1" ? -1 : parseBytes("memory-swap", f.memorySwap);
    if (swap !== 0) {
      if (memory.limit === undefined) {
        throw invalid("memory-swap", f.memorySwap, "--memory-swap needs --memory");
      }
      if (swap > 0 && swap < memory.limit) {
        throw invalid(
          "memory-swap",
          f.memorySwap,
          "memory+swap must be at least --memory",
        );
      }
      memory.swap = swap;
    }
  }
  if (memory.limit !== undefined && memory.swap === undefined) memory.swap = memory.limit * 2;
  if (Object.keys(memory).length > 0) resources.memory = memory;

  const cpu: NonNullable<Resources["cpu"]> = {};
  if (f.cpus !== undefined) {
    // Exact decimal, to the nanosecond of CPU per second as docker (more
    // digits are refused there as "too precise").
    const m = /^(\d*)(?:\.(\d+))?$/.exec(f.cpus.trim());
    if (!m || (m[1] === "" && m[2] === undefined)) {
      throw invalid("cpus", f.cpus, "expected a number of CPUs such as 0.5 or 2");
    }
    const fraction = m[2] ?? "";
    if (fraction.length > 9) throw invalid("cpus", f.cpus, "at most 9 decimal places");
    const nanoCpus = BigInt((m[1] || "0") + fraction.padEnd(9, "0"));
    const count = allowedCpus().length;
    if (nanoCpus > BigInt(count) * 1_000_000_000n) {
      throw invalid(
        "cpus",
        f.cpus,
        `range is 0.01 to ${count}, as there ${count === 1 ? "is" : "are"} only ${count} CPU${
          count === 1 ? "" : "s"
        } available`,
      );
    }
    const quota = Number(nanoCpus * BigInt(CPU_PERIOD) / 1_000_000_000n);
    if (nanoCpus > 0n && quota < 1000) throw invalid("cpus", f.cpus, "the minimum is 0.01");
    if (quota > 0) {
      cpu.quota = quota;
      cpu.period = CPU_PERIOD;
    }
  }
  if (f.cpuShares !== undefined) {
    // The kernel's bounds (cgroup v1 cpu.shares, MIN_SHARES and MAX_SHARES); 0: not set.
    const shares = parseIntegerIn("cpu-shares", f.cpuShares, 0, MAX_SHARES, SHARES_RANGE);
    if (shares === 1) throw invalid("cpu-shares", f.cpuShares, SHARES_RANGE);
    if (shares > 0) cpu.shares = shares;
  }
  if (f.cpusetCpus !== undefined) {
    const list = parseCpuList("cpuset-cpus", f.cpusetCpus);
    checkAvailable("cpuset-cpus", f.cpusetCpus, list, allowedCpus());
    cpu.cpus = f.cpusetCpus.trim();
  }
  if (f.cpusetMems !== undefined) {
    const list = parseCpuList("cpuset-mems", f.cpusetMems);
    checkAvailable("cpuset-mems", f.cpusetMems, list, readList("/sys/devices/system/node/online"));
    cpu.mems = f.cpusetMems.trim();
  }
  if (Object.keys(cpu).length > 0) resources.cpu = cpu;

  if (f.pidsLimit !== undefined) {
    const limit = parseIntegerIn(
      "pids-limit",
      f.pidsLimit,
      -1,
      PID_MAX_LIMIT,
      `use 1 to ${PID_MAX_LIMIT} (the kernel's most pids), or -1 for no limit`,
    );
    if (limit > 0) resources.pids = { limit };
  }
  if (f.blkioWeight !== undefined) {
    const weight = parseIntegerIn(
      "blkio-weight",
      f.blkioWeight,
      0,
      1000,
      "the range is 10 to 1000",
    );
    if (weight !== 0 && weight < 10) {
      throw invalid("blkio-weight", f.blkioWeight, "the range is 10 to 1000");
    }
    if (weight > 0) resources.blockIO = { weight };
  }

  // A name given twice keeps the last value, as docker does.
  const byType = new Map<string, Rlimit>();
  for (const u of f.ulimits ?? []) {
    const r = parseUlimit(u);
    byType.set(r.type, r);
  }
  return { resources, rlimits: [...byType.values()] };
}
