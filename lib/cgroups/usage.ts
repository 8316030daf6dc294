/**
 * What a running container uses now (`stats`): CPU time, memory and its
 * limit, processes, block I/O, read from its own cgroups (v1 or v2).
 * @module
 */

import { keyedValues, numberIn, readOptional } from "./fs.ts";
import { CGROUP_ROOT } from "./layout.ts";
import { cgroupsOfPid } from "./of_pid.ts";

/** One sample. */
export interface Usage {
  /** CPU time of every process, nanoseconds. */
  cpuNs: number;
  memoryBytes: number;
  /** undefined: no limit. */
  memoryLimitBytes?: number;
  pids: number;
  blockReadBytes: number;
  blockWriteBytes: number;
}

/** v1's "unlimited" is a page-rounded LONG_MAX; anything this high is no limit. */
const UNLIMITED_FLOOR = 2 ** 60;

function sumV1Blkio(text: string | undefined, op: string): number {
  let sum = 0;
  for (const line of (text ?? "").split("\n")) {
    const [, kind, value] = line.trim().split(/\s+/);
    if (kind === op) sum += Number(value) || 0;
  }
  return sum;
}

function sumV2Io(text: string | undefined, key: string): number {
  let sum = 0;
  for (const m of (text ?? "").matchAll(new RegExp(`\\b${key}=(\\d+)`, "g"))) sum += Number(m[1]);
  return sum;
}

function countLines(text: string | undefined): number {
  return (text ?? "").split("\n").filter(Boolean).length;
}

/** A sample of container `pid`'s cgroups; throws when the container is gone. */
export function usageOf(pid: number, root: string = CGROUP_ROOT): Usage {
  const c = cgroupsOfPid(pid, root);
  if (c.v2 && c.dir) {
    const d = c.dir;
    const max = readOptional(`${d}/memory.max`)?.trim();
    return {
      cpuNs: (keyedValues(readOptional(`${d}/cpu.stat`)).get("usage_usec") ?? 0) * 1000,
      memoryBytes: numberIn(readOptional(`${d}/memory.current`)) ?? 0,
      memoryLimitBytes: max && max !== "max" ? Number(max) : undefined,
      pids: numberIn(readOptional(`${d}/pids.current`)) ?? 0,
      blockReadBytes: sumV2Io(readOptional(`${d}/io.stat`), "rbytes"),
      blockWriteBytes: sumV2Io(readOptional(`${d}/io.stat`), "wbytes"),
    };
  }
  const mem = c.v1.get("memory");
  const cpu = c.v1.get("cpuacct");
  const pids = c.v1.get("pids");
  const blkio = c.v1.get("blkio");
  const limit = mem ? numberIn(readOptional(`${mem}/memory.limit_in_bytes`)) : undefined;
  const io = blkio ? readOptional(`${blkio}/blkio.throttle.io_service_bytes`) : undefined;
  return {
    cpuNs: cpu ? numberIn(readOptional(`${cpu}/cpuacct.usage`)) ?? 0 : 0,
    memoryBytes: mem ? numberIn(readOptional(`${mem}/memory.usage_in_bytes`)) ?? 0 : 0,
    memoryLimitBytes: limit !== undefined && limit < UNLIMITED_FLOOR ? limit : undefined,
    // Without a pids limit there is no pids cgroup of its own: its tasks elsewhere.
    pids: (pids ? numberIn(readOptional(`${pids}/pids.current`)) : undefined) ??
      countLines(readOptional(`${mem ?? cpu ?? c.v1.get("freezer")}/tasks`)),
    blockReadBytes: sumV1Blkio(io, "Read"),
    blockWriteBytes: sumV1Blkio(io, "Write"),
  };
}
