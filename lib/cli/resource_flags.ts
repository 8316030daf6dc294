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

/** A size in docker's spelling ("64m", "1g", "512k", "100b", "1.5GiB", bytes) in bytes. */
export function parseBytes(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw invalid(flag, text, "expected a size such as 512k, 64m or 1g");
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
  if (!Number.isSafeInteger(bytes)) throw invalid(flag, text, "the size is too large");
  return bytes;
}

function parseInteger(flag: string, text: string): number {
  const t = text.trim();
  if (!/^-?\d+$/.test(t) || !Number.isSafeInteger(Number(t))) {
    throw invalid(flag, text, "expected an integer");
  }
  return Number(t);
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
  if (!/^\d+$/.test(part) || !Number.isSafeInteger(Number(part))) {
    throw invalid("ulimit", text, `"${part}" is not a number, -1 or unlimited`);
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
    const t = f.cpus.trim();
    if (!/^\d+(\.\d+)?$|^\.\d+$/.test(t)) {
      throw invalid("cpus", f.cpus, "expected a number of CPUs such as 0.5 or 2");
    }
    const cpus = Number(t);
    const count = allowedCpus().length;
    if (cpus > count) {
      throw invalid(
        "cpus",
        f.cpus,
        `range is 0.01 to ${count}, as there ${count === 1 ? "is" : "are"} only ${count} CPU${
          count === 1 ? "" : "s"
        } available`,
      );
    }
    const quota = Math.round(cpus * CPU_PERIOD);
    if (cpus > 0 && quota < 1000) throw invalid("cpus", f.cpus, "the minimum is 0.01");
    if (quota > 0) {
      cpu.quota = quota;
      cpu.period = CPU_PERIOD;
    }
  }
  if (f.cpuShares !== undefined) {
    const shares = parseInteger("cpu-shares", f.cpuShares);
    if (shares < 0) throw invalid("cpu-shares", f.cpuShares, "shares must not be negative");
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
    const limit = parseInteger("pids-limit", f.pidsLimit);
    if (limit < -1) {
      throw invalid("pids-limit", f.pidsLimit, "use a positive number, or -1 for no limit");
    }
    if (limit > 0) resources.pids = { limit };
  }
  if (f.blkioWeight !== undefined) {
    const weight = parseInteger("blkio-weight", f.blkioWeight);
    if (weight !== 0 && (weight < 10 || weight > 1000)) {
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
