/**
 * What the lifecycle commands (ps, stop, kill, rm, inspect) do to stored
 * containers, with the state's word checked against the kernel's: a pid
 * that is gone or reused means the container is not running, whatever the
 * state file says (a crashed supervisor, a rebooted host).
 * @module
 */

import { isFrozen, setFrozen } from "../cgroups/freeze.ts";
import { ERRNO } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { ContainerError } from "../errors.ts";
import { removeContainerDir } from "../rootfs/default.ts";
import { isSameProcess } from "../state/liveness.ts";
import type { ContainerState, StateStore, Status, UnreadableState } from "../state/store.ts";

/** `kill -l`'s names and numbers (x86_64 and aarch64 agree on these). */
export const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** Deno's name of each standard signal number (Deno.kill takes names), aliases left out. */
const DENO_SIGNAL_NAMES = new Map<number, Deno.Signal>(
  Object.entries(SIGNALS)
    .filter(([name]) => !["SIGIOT", "SIGCLD", "SIGPOLL"].includes(name))
    .map(([name, n]) => [n, name as Deno.Signal]),
);

/**
 * kill(2) of `pid` with `signal`: 0 or the errno. The named signals go
 * through Deno's own kill, so that kill, stop, rm -f and runc's delete
 * load no FFI (a process's first Deno.dlopen costs it 1.7-1.9 ms); the
 * real-time ones, which Deno cannot name, through the trampoline.
 */
export function sendSignal(pid: number, signal: number): number {
  const name = DENO_SIGNAL_NAMES.get(signal);
  if (!name || pid <= 0) return trampoline().kill(pid, signal);
  try {
    Deno.kill(pid, name);
    return 0;
  } catch (e) {
    // "ESRCH: No such process": the errno's name leads the message.
    const code = /^(E[A-Z0-9]+):/.exec((e as Error).message)?.[1];
    if (code && code in ERRNO) return ERRNO[code as keyof typeof ERRNO];
    if (e instanceof Deno.errors.NotFound) return ERRNO.ESRCH;
    if (e instanceof Deno.errors.PermissionDenied) return ERRNO.EPERM;
    throw e;
  }
}

/** glibc's SIGRTMIN (the kernel's 32 and 33 are the C library's own) and SIGRTMAX. */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/**
 * A signal by number (1-64) or name, with or without SIG, any case: every
 * `kill -l` name, RTMIN, RTMAX, RTMIN+N and RTMAX-N (systemd images stop on
 * SIGRTMIN+3). Unknown ones are errors naming the text.
 */
export function parseSignal(text: string): number {
  const fail = () =>
    new ContainerError("signal", JSON.stringify(text), undefined, "unknown signal");
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw fail();
  }
  const upper = text.toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d{1,2}))?$/.exec(name);
  if (rt) {
    const base = rt[1] === "MIN" ? SIGRTMIN : SIGRTMAX;
    const offset = rt[3] === undefined ? 0 : Number(rt[3]);
    // runc's rule: RTMIN counts up, RTMAX counts down, both within the range.
    if (rt[2] === (rt[1] === "MIN" ? "-" : "+") && offset !== 0) throw fail();
    const n = rt[1] === "MIN" ? base + offset : base - offset;
    if (n < SIGRTMIN || n > SIGRTMAX) throw fail();
    return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw fail();
  return n;
}

/**
 * The signal `stop` sends first: the image's StopSignal when this runtime
 * knows it, else SIGTERM with a warning (a container must always be
 * stoppable, whatever its image says).
 */
export function stopSignalOf(state: ContainerState): number {
  if (state.stopSignal === undefined) return SIGNALS.SIGTERM;
  try {
    return parseSignal(state.stopSignal);
  } catch {
    console.error(
      `minicontainer: warning: container ${state.name}'s stop signal ${
        JSON.stringify(state.stopSignal)
      } is not one this runtime knows; sending SIGTERM`,
    );
    return SIGNALS.SIGTERM;
  }
}

/** The status as it really is now. */
export function liveStatus(state: ContainerState): Status {
  if (state.status !== "running" && state.status !== "created") return state.status;
  if (state.status === "created" && state.supervisorPid === undefined) return "created";
  if (isSameProcess(state.pid, state.pidStart)) return "running";
  if (state.exitCode !== undefined) return "exited";
  // Ended a moment ago: its monitor (or run) is still recording the exit.
  if (isSameProcess(state.supervisorPid, state.supervisorStart)) return "running";
  return "unknown";
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
  const err = sendSignal(state.pid, signal);
  if (err) throw new ContainerError(`signal ${signal} container`, state.name, err);
  thawForSignal(state);
}

/**
 * A paused container (frozen by `pause`) is thawed once signalled: frozen
 * processes would hold every signal, SIGKILL too (cgroup v1), and stop,
 * kill and rm -f would wait for them forever. Docker's stop and kill do the same.
 */
function thawForSignal(state: ContainerState): void {
  if (!state.pid || !isFrozen(state.pid)) return;
  try {
    setFrozen(state.pid, false, state.name);
  } catch { /* exited meanwhile */ }
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
    try {
      signalContainer(state, stopSignalOf(state));
    } catch (e) {
      // Whatever kept the first signal from landing, SIGKILL after the grace period still must.
      if (!(e instanceof ContainerError)) throw e;
      console.error(`minicontainer: warning: ${e.message}`);
    }
    if (!(await waitStopped(state, graceSeconds * 1000))) {
      sendSignal(state.pid!, SIGNALS.SIGKILL);
      thawForSignal(state);
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
    sendSignal(state.pid!, SIGNALS.SIGKILL);
    thawForSignal(state);
    await waitStopped(state, 10_000);
    await waitRecorded(store, state.id);
  }
  // Gone from every listing at once; a kill from here on leaves a tombstone
  // that the next command finishes (lib/container/reclaim.ts).
  const tomb = store.bury(state.id);
  if (state.cgroupPaths?.length) {
    // Normally gone with the supervisor's cleanup; left behind if it crashed.
    const { removeCgroupDirs } = await import("../cgroups/remove.ts");
    removeCgroupDirs(state.cgroupPaths);
  }
  for (const path of state.removeOnDelete ?? []) removeContainerDir(path);
  if (state.net) {
    // Its /etc files, and its network if its supervisor died before DEL.
    const { reclaimNetwork } = await import("../net/attach.ts");
    await reclaimNetwork(state.net.setup.dir);
  }
  store.removeFiles(state.id, state.name);
  if (tomb) store.removeDead({ id: state.id, path: tomb });
}

/**
 * rm of a container whose state cannot be read: what is left of it is found
 * through its cgroup (`minicontainer-ID` in every hierarchy), killed with
 * `force` (refused while it has processes otherwise), and removed with its
 * folder and, once nothing owns it, its image root.
 */
export async function removeUnreadable(
  store: StateStore,
  u: UnreadableState,
  force: boolean,
): Promise<void> {
  const { findContainerCgroups, removeCgroupDirs } = await import("../cgroups/remove.ts");
  const { readPids } = await import("../cgroups/fs.ts");
  const cgroups = findContainerCgroups(new Set([u.id])).get(u.id) ?? [];
  const running = cgroups.some((dir) => readPids(`${dir}/cgroup.procs`).length > 0);
  if (running && !force) {
    throw new ContainerError(
      "remove container",
      u.name || u.id.slice(0, 12),
      undefined,
      `its state cannot be read (${u.reason}) and it still runs; use rm -f`,
    );
  }
  const tomb = store.bury(u.id);
  removeCgroupDirs(cgroups);
  store.removeFiles(u.id, u.name);
  if (tomb) store.removeDead({ id: u.id, path: tomb });
  const { dropContainerDir, nothingReclaimed } = await import("./reclaim.ts");
  dropContainerDir(u.id, nothingReclaimed());
}
