/**
 * Running one container: prepare its mounts, build its plan, launch it.
 * Nothing of it stays on the host: every mount lives in the child's mount
 * namespace.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { classifyMaskedPaths } from "../mounts/masks.ts";
import { prepareMounts } from "../mounts/prepare.ts";
import { securityOps } from "../security/process_ops.ts";
import type { Spec } from "../spec.ts";
import { launch, type RunHooks } from "./launch.ts";
import { buildChildPlan, cloneFlags } from "./plan.ts";

export { FORWARDED_SIGNALS, type RunHooks } from "./launch.ts";

/** How to run. */
export interface RunOptions {
  /** Put a reaping, signal-forwarding init above the command. */
  init?: boolean;
  /** One line per step, parent and child, on stderr. */
  debug?: boolean;
  /** With a terminal (spec.process.terminal): forward stdin to it, host terminal in raw mode. */
  interactive?: boolean;
  /** The container's stdin, stdout and stderr, when not the runtime's own. */
  stdio?: readonly [number, number, number];
  /** Ops spliced in before the exec instead of those the spec calls for. */
  securityOps?: readonly Op[];
  hooks?: RunHooks;
}

function checkRootfs(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    throw fromDenoError("rootfs", path, e);
  }
  if (!info.isDirectory) throw new ContainerError("rootfs", path, 20);
}

/** Runs `spec` to completion; resolves to the container's exit status. */
export async function runContainer(spec: Spec, opts: RunOptions = {}): Promise<number> {
  checkRootfs(spec.root.path);
  const mounts = prepareMounts(spec.root.path, spec.mounts);
  const userns = spec.linux.namespaces.some((n) => n.type === "user" && !n.path);
  return await launch({
    plan: (terminal) =>
      buildChildPlan({
        spec,
        mounts,
        init: opts.init ?? false,
        stdio: opts.stdio,
        masked: classifyMaskedPaths(spec.linux.maskedPaths ?? []),
        securityOps: opts.securityOps ?? securityOps(spec),
        terminal,
      }),
    cloneFlags: cloneFlags(spec),
    command: spec.process.args[0],
    terminal: spec.process.terminal,
    interactive: opts.interactive,
    idMaps: userns
      ? { uidMappings: spec.linux.uidMappings ?? [], gidMappings: spec.linux.gidMappings ?? [] }
      : undefined,
    debug: opts.debug,
    hooks: opts.hooks,
  });
}
