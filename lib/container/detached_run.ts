/**
 * `run -d`: register the container, start it under its monitor
 * (lib/container/monitor.ts), record it running in one atomic write, and
 * return (or fail with one sentence, leaving nothing). The monitor executes
 * `minicontainer __cleanup ID` when the container ends: {@link cleanup}.
 * @module
 */

import { makeContainerDir, removeContainerDir } from "../rootfs/default.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { liveStatus } from "./lifecycle.ts";
import { isFrozen } from "../cgroups/freeze.ts";
import { readExitRecord, reserveExitRecord } from "../state/exit_record.ts";
import { isSameProcess, ownerTag, processStartTime } from "../state/liveness.ts";
import { pathExists } from "../state/disk_usage.ts";
import { DEFAULT_LOG, type LogOptions } from "../state/logs.ts";
import { type ContainerState, StateStore } from "../state/store.ts";
import type { Spec } from "../spec.ts";
import type { NetSetup } from "../net/etc_files.ts";
import { selfCommand } from "./detach.ts";
import { startMonitored } from "./monitor.ts";
import { releaseNetwork } from "./run.ts";
import { reclaimDead } from "./reclaim.ts";
import { checkName, generatedName, newId } from "../state/store.ts";
import type { RootOverlay } from "../mounts/plan.ts";

/** docker's restart policies. */
export interface RestartPolicy {
  name: "no" | "on-failure" | "always" | "unless-stopped";
  /** on-failure's most restarts (0: no limit). */
  max?: number;
}

/** How to run detached. */
export interface DetachedRun {
  id?: string;
  stateRoot: string;
  overlay?: RootOverlay;
  /** The container's own directory (writable layer); its log lives there too. */
  containerDir: string;
  /** What rm removes besides the state. */
  removeOnDelete?: string[];
  stopSignal?: string;
  name?: string;
  autoRemove: boolean;
  init: boolean;
  tty: boolean;
  /** -i: the container's stdin stays open for attach clients (start -ai). */
  interactive?: boolean;
  command: string[];
  restart?: RestartPolicy;
  log?: LogOptions;
  /** Its networking, attached between clone and release. */
  net?: { setup: NetSetup; attach: boolean };
}

/** The state of a container made for `spec` and not started yet. */
function createdState(spec: Spec, opts: DetachedRun): ContainerState {
  const name = opts.name ?? generatedName();
  checkName(name);
  return {
    id: opts.id ?? newId(),
    name,
    status: "created",
    created: new Date().toISOString(),
    command: opts.command,
    spec,
    detached: true,
    init: opts.init,
    tty: opts.tty,
    openStdin: opts.interactive || undefined,
    autoRemove: opts.autoRemove,
    logPath: `${opts.containerDir}/container.log`,
    log: opts.log ?? DEFAULT_LOG,
    restart: opts.restart,
    overlay: opts.overlay,
    removeOnDelete: opts.removeOnDelete,
    stopSignal: opts.stopSignal,
    net: opts.net,
  };
}

/**
 * docker's `create`: the container's state, status "created", and no
 * process; `start` runs it ({@link startStored}). Resolves to its id.
 */
export async function createDetached(spec: Spec, opts: DetachedRun): Promise<string> {
  const state = createdState(spec, opts);
  await new StateStore(opts.stateRoot).create(state);
  return state.id;
}

/** Starts `spec` in the background; resolves to the container's id. */
export async function runDetached(spec: Spec, opts: DetachedRun): Promise<string> {
  const store = new StateStore(opts.stateRoot);
  const state = createdState(spec, opts);
  // What dead launchers, monitors and removals of this root left goes first.
  await reclaimDead(store);
  // Until its monitor runs, this process owns the container's cgroup.
  const claim = store.claim(state.id);
  try {
    await store.create(state);
    try {
      await startContainer(store, state);
    } catch (e) {
      store.removeFiles(state.id, state.name);
      throw e;
    }
    return state.id;
  } finally {
    store.release(claim);
  }
}

/** What {@link startStored} found: started now, or running already (docker's no-op). */
export type StartOutcome = "started" | "running";

/**
 * docker's `start` of a stored container: a created one, or an exited one
 * again (same id, name and writable layer, a new pid), under a new monitor,
 * as `run -d` starts one; a running one is left alone. Under the
 * container's lock, so two starts never race.
 */
export async function startStored(store: StateStore, id: string): Promise<StartOutcome> {
  const outcome = await store.withLock(id, async (state) => {
    const status = liveStatus(state);
    if (status === "running") {
      if (state.pid && isFrozen(state.pid)) {
        throw new ContainerError(
          "start container",
          state.name,
          undefined,
          "it is paused; unpause it instead",
        );
      }
      return "running" as const;
    }
    if (status === "unknown") {
      throw new ContainerError(
        "start container",
        state.name,
        undefined,
        "whatever ran it died without recording its exit; remove it (rm) and create it again",
      );
    }
    // What ran it last (a monitor's cleanup, a foreground run) may still be
    // recording the exit: its cgroup and network going, its final write.
    let last = state;
    for (let i = 0; isSameProcess(last.supervisorPid, last.supervisorStart); i++) {
      if (i === 500) {
        throw new ContainerError(
          "start container",
          state.name,
          undefined,
          `process ${last.supervisorPid}, which ran it last, is still recording its exit`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
      last = store.read(id) ?? last;
    }
    await reclaimDead(store);
    let next: ContainerState = {
      ...last,
      detached: true,
      stoppedByUser: undefined,
      // A start by hand begins the policy's count again (docker's rule).
      restartCount: undefined,
      log: state.log ?? DEFAULT_LOG,
    };
    if (!next.logPath) {
      // Made by an older minicontainer without a directory of its own: one now, for the log.
      const dir = makeContainerDir(id, store.dir(id));
      next = {
        ...next,
        logPath: `${dir}/container.log`,
        removeOnDelete: [...next.removeOnDelete ?? [], dir],
      };
    }
    if (last.status !== "created") freshWorkDir(next.overlay);
    const claim = store.claim(id);
    try {
      await startContainer(store, next);
    } finally {
      store.release(claim);
    }
    return "started" as const;
  });
  if (!outcome) throw new ContainerError("start container", id, undefined, "no such container");
  return outcome;
}

/**
 * A volatile overlay refuses a work directory it used before: a fresh one
 * for a container that runs again (upper keeps its files).
 */
function freshWorkDir(overlay: ContainerState["overlay"]): void {
  if (!overlay) return;
  try {
    Deno.removeSync(overlay.work, { recursive: true });
    Deno.mkdirSync(overlay.work);
  } catch (e) {
    throw fromDenoError("renew the overlay's work directory", overlay.work, e);
  }
}

/**
 * Starts stored container `state` under a new monitor and records it
 * running: one atomic write of state.json on this path.
 */
export async function startContainer(store: StateStore, state: ContainerState): Promise<void> {
  const dir = store.dir(state.id);
  reserveExitRecord(dir);
  let cgroupPaths: string[] | undefined;
  const root = store.root.startsWith("/") ? store.root : `${Deno.cwd()}/${store.root}`;
  const m = await startMonitored(state.spec, {
    id: state.id,
    init: state.init ?? false,
    overlay: state.overlay,
    tty: state.tty ?? false,
    stdin: state.openStdin === true && !state.tty,
    exitPath: `${dir}/exit`,
    logPath: state.logPath!,
    logMaxSize: state.log?.maxSize ?? DEFAULT_LOG.maxSize,
    logMaxFiles: state.log?.maxFiles ?? DEFAULT_LOG.maxFiles,
    attachPath: `${dir}/attach`,
    // Beside the log, on the data disk: nothing of the monitor holds the state root's file system.
    monitorLog: `${state.logPath!.slice(0, state.logPath!.lastIndexOf("/"))}/monitor.log`,
    cleanup: selfCommand(["--root", root, "__cleanup", state.id]),
    net: state.net,
    onCgroup: (paths) => (cgroupPaths = [...paths]),
  });
  let recorded = false;
  try {
    // The monitor owns the cgroup from now on (and its cleanup, the same process, after it).
    const monitorStart = processStartTime(m.monitorPid);
    store.claim(state.id, `${m.monitorPid}-${monitorStart ?? 0}`);
    store.write({
      ...state,
      status: "running",
      pid: m.pid,
      pidStart: processStartTime(m.pid),
      supervisorPid: m.monitorPid,
      supervisorStart: monitorStart,
      cgroupPaths,
      started: new Date().toISOString(),
      exitCode: undefined,
      finished: undefined,
      oomKilled: undefined,
    });
    recorded = true;
  } finally {
    m.done(recorded);
    if (!recorded) await reclaimUnrecorded(m.pid, cgroupPaths);
  }
}

/**
 * A container whose state could not be written (a full disk): its monitor
 * kills it (see done()); once it is gone its cgroup goes, which nothing
 * recorded would let another command find.
 */
async function reclaimUnrecorded(pid: number, cgroupPaths: string[] | undefined): Promise<void> {
  const start = processStartTime(pid);
  for (let i = 0; i < 200 && isSameProcess(pid, start); i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!cgroupPaths?.length) return;
  const { removeCgroupDirs } = await import("../cgroups/remove.ts");
  // The monitor reaps the container a moment after it dies: a few tries.
  for (let i = 0; i < 40 && cgroupPaths.some(pathExists); i++) {
    removeCgroupDirs(cgroupPaths);
    if (cgroupPaths.some(pathExists)) await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether a container that exited with `code` starts again under its policy. */
export function shouldRestart(state: ContainerState, code: number): boolean {
  const policy = state.restart;
  if (!policy || policy.name === "no" || state.stoppedByUser) return false;
  if (policy.name === "on-failure") {
    return code !== 0 && (!policy.max || (state.restartCount ?? 0) < policy.max);
  }
  return true;
}

/**
 * `__cleanup ID`, executed by the monitor in its own process once the
 * container has ended and its exit is in the exit record: the cgroup goes,
 * the state says exited (or the container goes, with --rm), or the restart
 * policy starts it again under a new monitor. No daemon: a policy lives as
 * long as the chain of monitors does (not across a reboot).
 */
export async function cleanup(store: StateStore, id: string): Promise<number> {
  const claim = `${store.root}/owners/${id}.${ownerTag()}`;
  try {
    const state = store.read(id);
    if (!state) return 0; // removed meanwhile (rm -f): rm did the rest
    const exit = readExitRecord(store.dir(id)) ??
      { exitCode: 255, oomKilled: false, finished: new Date().toISOString() };
    // Off its network (CNI DEL, helper stopped); its /etc files stay until rm.
    if (state.net) await releaseNetwork(state.net);
    if (state.cgroupPaths?.length) {
      const { removeCgroupDirs } = await import("../cgroups/remove.ts");
      removeCgroupDirs(state.cgroupPaths);
    }
    const exited: ContainerState = {
      ...state,
      ...exit,
      status: "exited",
      pid: undefined,
      cgroupPaths: undefined,
    };
    if (shouldRestart(state, exit.exitCode)) {
      const next = { ...exited, restartCount: (state.restartCount ?? 0) + 1 };
      store.write(next);
      // docker's back-off, from 100 ms, doubling, at most 10 s.
      await new Promise((r) =>
        setTimeout(r, Math.min(100 * 2 ** (state.restartCount ?? 0), 10000))
      );
      const now = store.read(id);
      if (now && !now.stoppedByUser) {
        try {
          freshWorkDir(next.overlay);
          await startContainer(store, next);
          return 0;
        } catch (e) {
          console.error(`minicontainer: restart ${state.name}: ${(e as Error).message}`);
        }
      }
      return 0;
    }
    if (state.autoRemove) {
      for (const path of state.removeOnDelete ?? []) removeContainerDir(path);
      if (state.net) (await import("../net/etc_files.ts")).removeNetDir(state.net.setup.dir);
      store.removeFiles(id, state.name);
    } else {
      try {
        store.write(exited);
      } catch { /* a full disk: the exit record keeps the status */ }
    }
    return 0;
  } finally {
    store.release(claim);
  }
}
