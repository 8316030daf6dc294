/**
 * The OCI hooks that run in the container's namespaces (createContainer,
 * startContainer) as child plan ops, and their failures as sentences. The
 * runtime's own hooks (prestart, createRuntime, poststart, poststop) are
 * ./hooks.ts; these cannot be run from the runtime's threaded process, so
 * the trampoline forks them (its `hook` op).
 * @module
 */

import { execHelperArgv, HOOK_FAILED, type Op, type Ref } from "../../ffi/plan.ts";
import { ContainerError } from "../errors.ts";
import type { Hook } from "../spec.ts";

/** The two stages run by the child. */
export type ChildHookStage = "createContainer" | "startContainer";

/**
 * One `hook` op per hook of `stage`, in order, each with the state memfd
 * `stateFd` on its stdin. `report(k)` is the fd (or the reference to the op
 * that opened it) the k-th op writes its failure to, for a runtime that
 * does not read the error pipe (`start`). The hooks are executed through
 * the exec helper of the plan's exec_helper op (see ffi/exec_helper.c).
 */
export function hookOps(
  stage: ChildHookStage,
  hooks: readonly Hook[],
  stateFd: number,
  report?: (k: number) => Ref,
): Op[] {
  return hooks.map((hook, k) => ({
    call: "hook",
    args: [
      hook.path,
      execHelperArgv(
        [{ path: hook.path, tolerated: false }],
        hook.args?.length ? hook.args : [hook.path],
        true,
      ),
      hook.env ?? [],
      stateFd,
      hook.timeout && hook.timeout > 0 ? Math.ceil(hook.timeout) : 0,
      report ? report(k) : -1,
    ],
    label: `${stage} hook ${hook.path}`,
  }));
}

/** A wait status in words: "exited with status 3", "was killed by signal 9". */
function statusWords(status: number): string {
  const sig = status & 0x7f;
  return sig === 0 ? `exited with status ${(status >> 8) & 0xff}` : `was killed by signal ${sig}`;
}

/**
 * The sentence of a failed hook: `code` is what the hook op reported (an
 * errno, or HOOK_FAILED's), `timeout` the hook's limit in seconds.
 */
export function hookError(
  stage: ChildHookStage,
  path: string,
  code: number,
  timeout: number,
): ContainerError {
  if (code === HOOK_FAILED.TIMEOUT) {
    return new ContainerError(`${stage} hook`, path, undefined, `timed out after ${timeout} s`);
  }
  if (code & HOOK_FAILED.STATUS) {
    return new ContainerError(`${stage} hook`, path, undefined, statusWords(code & 0xffff));
  }
  return new ContainerError(`execute ${stage} hook`, path, code);
}

/** hookError for a failed `hook` op of a plan; undefined for another op. */
export function hookOpError(op: Op | undefined, code: number): ContainerError | undefined {
  if (op?.call !== "hook") return undefined;
  const stage = op.label.split(" ")[0] as ChildHookStage;
  return hookError(stage, op.args[0] as string, code, op.args[4] as number);
}

/**
 * What `start` read from the exec fifo: "0" when the startContainer hooks
 * passed (the command is executed next), a failure record ('E', int32
 * code, the hook's path) otherwise; undefined for anything else.
 */
export function fifoReport(
  bytes: Uint8Array,
  hooks: readonly Hook[],
): { ok: true } | { ok: false; error: ContainerError } | undefined {
  if (bytes[0] === 0x30) return { ok: true };
  if (bytes[0] !== 0x45 || bytes.length < 5) return undefined;
  const code = new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getInt32(0, true);
  const path = new TextDecoder().decode(bytes.subarray(5));
  const hook = hooks.find((h) => h.path === path);
  return {
    ok: false,
    error: hookError("startContainer", path, code, Math.ceil(hook?.timeout ?? 0)),
  };
}
