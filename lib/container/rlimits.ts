/**
 * POSIX rlimits (spec.process.rlimits) as prlimit64 ops on the child itself.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { ContainerError } from "../errors.ts";
import type { Rlimit } from "../spec.ts";

/** RLIMIT_* numbers (the same on x86_64 and aarch64). */
export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/** RLIM_INFINITY as the kernel stores it. */
const INFINITY = 0xffffffffffffffffn;

function limitValue(n: number): bigint {
  return n < 0 ? INFINITY : BigInt(n);
}

/** One prlimit64(0, resource, &{soft, hard}, NULL) op per rlimit. */
export function rlimitOps(rlimits: readonly Rlimit[] = []): Op[] {
  return rlimits.map((r) => {
    const resource = RLIMITS[r.type];
    if (resource === undefined) {
      throw new ContainerError("set rlimit", undefined, undefined, `unknown rlimit ${r.type}`);
    }
    const value = new Uint8Array(16);
    const view = new DataView(value.buffer);
    view.setBigUint64(0, limitValue(r.soft), true);
    view.setBigUint64(8, limitValue(r.hard), true);
    return {
      call: "prlimit64",
      args: [0, resource, value, null],
      label: `set ${r.type} to ${r.soft}:${r.hard}`,
    };
  });
}
