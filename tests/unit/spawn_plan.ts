/**
 * Runs a child plan through a loaded trampoline, for the unit tests that
 * drive the real trampoline: its exit code and, when an op failed, which
 * and with what errno.
 * @module
 */

import { encodePlan, type Op } from "../../ffi/plan.ts";
import type { Trampoline } from "../../ffi/trampoline.ts";
import { exitCodeOf } from "../../lib/container/exit_status.ts";

/** Spawns `plan`, releases it at once, waits for it. */
export async function spawnPlan(
  t: Trampoline,
  plan: Op[],
): Promise<{ code: number; failed: { op: number; errno: number } | null }> {
  const child = t.spawn(0, encodePlan(plan), -1);
  t.release(child.syncFd);
  const record = await t.readFull(child.errorFd, 8);
  t.close(child.errorFd);
  const status = await t.wait(child.pid);
  const view = new DataView(record.buffer, record.byteOffset, record.length);
  return {
    code: exitCodeOf(status),
    failed: record.length === 8
      ? { op: view.getInt32(0, true), errno: view.getInt32(4, true) }
      : null,
  };
}
