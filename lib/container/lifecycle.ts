/**
 * What the lifecycle commands (ps, stop, kill, rm, inspect) do to stored
 * containers, with the state's word checked against the kernel's: a pid
 * that is gone or reused means the container is not running, whatever the
 * state file says (a crashed supervisor, a rebooted host).
 * @module
 */

import { trampoline } from "../../ffi/trampoline.ts";
import { ContainerError } from "../errors.ts";
import { removeContainerDir } from "../rootfs/default.ts";
import { isSameProcess } from "../state/liveness.ts";
import type { ContainerState, StateStore, Status } from "../state/store.ts";

/** Signal names and numbers (x86_64 and aarch64 agree on these). */
export const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGWINCH: 28,
};

/** A signal by name (TERM, SIGTERM) or number; unknown ones are usage errors. */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return n;
  }
  const name = text.toUpperCase().startsWith("SIG")
    ? text.toUpperCase()
    : `SIG${text.toUpperCase()}`;
  const n = SIGNALS[name];
  if (n === undefined) throw new ContainerError("signal", text, undefined, "unknown signal");
  return n;
}

/** The status as it really is now. */
export function liveStatus(state: ContainerState): Status {
  if (state.status !== "running" && state.status !== "created") return state.status;
  if (state.status === "created" && state.supervisorPid === undefined) return "created";
  if (isSameProcess(state.pid, state.pidStart)) return "running";
  return state.exitCode === undefined ? "unknown" : "exited";
}

/** The state with its status checked against the kernel. */
export function withLiveStatus(state: ContainerState): ContainerState {
  return { ...state, status: liveStatus(state) };
}

/** Sends `signal` to a running container's PID 1. */
export function signalContainer(state: ContainerState, signal: number): void {
  if (liveStatus(state) !== "running" || !state.pid) {
    throw new ContainerError("signal container", state.name, undefined, "it is not running");
  }
  const err = trampoline().kill(state.pid, signal);
  if (err) throw new ContainerError(`signal ${signal} container`, state.name, err);
}

/** Resolves once `state`'s container no longer runs, or after `ms` with false. */
export async function waitStopped(state: ContainerState, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (isSameProcess(state.pid, state.pidStart)) {
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/** Waits for the supervisor to record the exit (it does right after the container ends). */
export async function waitRecorded(
  store: StateStore,
  id: string,
  ms = 5000,
): Promise<ContainerState | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const s = store.read(id);
    if (!s || s.status === "exited" || Date.now() >= end) return s;
    if (
      s.supervisorPid && !isSameProcess(s.supervisorPid, undefined) &&
      !processAlive(s.supervisorPid)
    ) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * stop: the stop signal, then SIGKILL after `graceSeconds`. Resolves to the
 * exit code the supervisor recorded.
 */
export async function stopContainer(
  store: StateStore,
  state: ContainerState,
  graceSeconds: number,
): Promise<number | undefined> {
  if (liveStatus(state) === "running") {
    signalContainer(state, parseSignal(state.stopSignal ?? "SIGTERM"));
    if (!(await waitStopped(state, graceSeconds * 1000))) {
      trampoline().kill(state.pid!, SIGNALS.SIGKILL);
      await waitStopped(state, 10_000);
    }
  }
  return (await waitRecorded(store, state.id))?.exitCode;
}

/** rm: refuses a running container unless `force` (then kills it); removes state and files. */
export async function removeContainer(
  store: StateStore,
  state: ContainerState,
  force: boolean,
): Promise<void> {
  if (liveStatus(state) === "running") {
    if (!force) {
      throw new ContainerError(
        "remove container",
        state.name,
        undefined,
        "it is running; stop it first or use rm -f",
      );
    }
    trampoline().kill(state.pid!, SIGNALS.SIGKILL);
    await waitStopped(state, 10_000);
    await waitRecorded(store, state.id);
  }
  if (state.cgroupPaths?.length) {
    // Normally gone with the supervisor's cleanup; left behind if it crashed.
    const { removeCgroupDirs } = await import("../cgroups/remove.ts");
    removeCgroupDirs(state.cgroupPaths);
  }
  for (const path of state.removeOnDelete ?? []) removeContainerDir(path);
  store.removeFiles(state.id, state.name);
}
