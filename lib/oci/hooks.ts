/**
 * OCI hooks (config.md "POSIX-platform Hooks"): each runs in the runtime's
 * namespaces with the container's state JSON on its standard input, its
 * own environment only, and its timeout; a failing one is an error naming
 * the stage, the hook's path and what it said.
 * @module
 */

import { ContainerError, fromDenoError } from "../errors.ts";
import type { Hook } from "../spec.ts";
import type { OciState } from "./state.ts";

function envOf(list: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf("=");
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

/** Runs `hooks` of `stage` in order; throws at the first that fails. */
export async function runHooks(
  stage: string,
  hooks: readonly Hook[] | undefined,
  state: OciState,
): Promise<void> {
  for (const hook of hooks ?? []) {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(hook.path, {
        args: (hook.args ?? []).slice(1),
        env: envOf(hook.env),
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      throw fromDenoError(`${stage} hook`, hook.path, e);
    }
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(JSON.stringify(state))).catch(() => {});
    await w.close().catch(() => {});
    let timedOut = false;
    const timer = hook.timeout && hook.timeout > 0
      ? setTimeout(() => {
        timedOut = true;
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, hook.timeout * 1000)
      : undefined;
    const out = await child.output();
    clearTimeout(timer);
    if (timedOut) {
      throw new ContainerError(
        `${stage} hook`,
        hook.path,
        undefined,
        `timed out after ${hook.timeout} s`,
      );
    }
    if (!out.success) {
      const said = new TextDecoder().decode(out.stderr).trim() ||
        new TextDecoder().decode(out.stdout).trim();
      throw new ContainerError(
        `${stage} hook`,
        hook.path,
        undefined,
        `exited with status ${out.code}${said ? `: ${said}` : ""}`,
      );
    }
  }
}
