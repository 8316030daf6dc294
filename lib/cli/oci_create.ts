/**
 * runc's `create`, `run` and `exec`: the verbs that make a process, and so
 * load the bundle loader, the child plan and its launch. lib/cli/oci.ts
 * loads this module for them only: `start`, `state`, `kill` and `delete`,
 * each a process of its own under podman and containerd, do not pay for it.
 * @module
 */

import { execHelperFd } from "../../ffi/monitor.ts";
import { mknod } from "../../ffi/libc.ts";
import { encodePlan, removeOps } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { writeFileAtomic } from "../atomic_file.ts";
import { removeCgroupDirs } from "../cgroups/remove.ts";
import { createContainer, type Created } from "../container/create.ts";
import { exitCodeOf } from "../container/exit_status.ts";
import { buildJoinPlan } from "../container/join.ts";
import { processAttributeOps } from "../container/plan.ts";
import { forwardSignals, launch } from "../container/launch.ts";
import { oomSentence } from "../container/run.ts";
import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import { checkProcessAttributes, loadBundle } from "../oci/bundle.ts";
import { runHooks } from "../oci/hooks.ts";
import { checkId, type OciRecord, startTimeOf } from "../oci/state.ts";
import { securityOps } from "../security/process_ops.ts";
import type { Process, Spec } from "../spec.ts";
import type { Console } from "../tty/console.ts";
import type { WindowSize } from "../tty/pty_ops.ts";
import type { FlagDef } from "./args.ts";
import { globalOptions } from "./global.ts";
import { absolute, cleanUp, doStart, needId, parse, store, waitGone, warn } from "./oci.ts";

/** The record of a container `create` or `run` is making, before it has a pid. */
function newRecord(id: string, bundle: string, spec: OciRecord["spec"]): OciRecord {
  return {
    id,
    pid: 0,
    bundle,
    rootfs: spec.root.path,
    created: new Date().toISOString(),
    cgroupPaths: [],
    annotations: spec.annotations,
    spec,
  };
}

/** Writes a pid file as runc does: whole or not at all. */
function writePidFile(path: string | undefined, pid: number): void {
  if (!path) return;
  writeFileAtomic(absolute(path), `${pid}`, "write pid file", { sync: false });
}

const CREATE_FLAGS: FlagDef[] = [
  { name: "bundle", short: "b", value: true, meta: "DIR", help: "The bundle (default: .)" },
  { name: "pid-file", value: true, meta: "FILE", help: "Write the init's pid here" },
  {
    name: "console-socket",
    value: true,
    meta: "SOCKET",
    help: "Unix socket that receives the pty master (process.terminal)",
  },
  { name: "no-pivot", help: "Accepted for runc's callers; pivot_root is always used" },
  { name: "no-new-keyring", help: "Accepted for runc's callers; no keyring is made" },
  { name: "preserve-fds", value: true, meta: "N", help: "Pass N more fds (only 0 supported)" },
];

/** The bundle of --bundle (default: the working directory) and its config.json. */
function loadFlagsBundle(
  flags: Record<string, string | string[] | boolean | undefined>,
  processOptional: boolean,
): { bundle: string; spec: Spec } {
  const bundle = absolute((flags.bundle as string | undefined) ?? ".").replace(/\/+$/, "") || "/";
  return { bundle, spec: loadBundle(bundle, warn, { processOptional }) };
}

/**
 * A foreground `run`'s create: this process stays the init's parent (the
 * init keeps its parent-death signal) and, for a terminal without
 * --console-socket, receives the pty master itself on `consoleFd`.
 */
interface Foreground {
  consoleFd?: number;
  consoleSize?: WindowSize;
  /** See CreateOptions.released. */
  released?(pid: number): void;
}

/** Creates the container `id` of the bundle; leaves it waiting for `start`. */
async function doCreate(
  id: string,
  flags: Record<string, string | string[] | boolean | undefined>,
  { bundle, spec } = loadFlagsBundle(flags, true),
  foreground?: Foreground,
): Promise<{ rec: OciRecord } & Pick<Created, "cgroup" | "execed">> {
  checkId(id);
  if (flags["preserve-fds"] !== undefined && flags["preserve-fds"] !== "0") {
    throw usageError("--preserve-fds is not supported");
  }
  const consoleSocket = flags["console-socket"] as string | undefined;
  if (spec.process.terminal && !consoleSocket && !foreground) {
    throw new ContainerError(
      "create",
      id,
      undefined,
      "cannot allocate tty if runc will detach without setting console socket",
    );
  }
  if (!spec.process.terminal && consoleSocket) {
    throw new ContainerError(
      "create",
      id,
      undefined,
      "cannot use console socket if runc will not detach or allocate tty",
    );
  }
  const s = store();
  s.reserve(id);
  const rec = newRecord(id, bundle, spec);
  let consoleFd: number | undefined;
  let created: Created | undefined;
  try {
    const fifo = s.fifo(id);
    mknod(fifo, 0o010000 | 0o622, 0, 0);
    Deno.chmodSync(fifo, 0o622);
    s.write(rec);
    if (consoleSocket) {
      consoleFd = (await import("../../ffi/unix_socket.ts")).connectUnix(absolute(consoleSocket));
    }
    created = await createContainer(spec, {
      id,
      fifoPath: fifo,
      consoleFd: consoleFd ?? foreground?.consoleFd,
      consoleSize: foreground?.consoleSize,
      foreground: foreground !== undefined,
      released: foreground?.released,
      debug: globalOptions.debug,
      hooks: {
        state: (pid, status) => JSON.stringify({ ...s.state(rec), status, pid }),
        // The child waits before its createContainer hooks and pivot_root meanwhile.
        runtime: async (pid) => {
          rec.pid = pid;
          rec.pidStart = startTimeOf(pid);
          s.write(rec);
          const state = { ...s.state(rec), status: "created" as const, pid };
          await runHooks("prestart", spec.hooks?.prestart, state);
          await runHooks("createRuntime", spec.hooks?.createRuntime, state);
        },
      },
    });
    rec.pid = created.pid;
    rec.pidStart = startTimeOf(created.pid);
    rec.cgroupPaths = created.cgroupPaths;
    s.write(rec);
    writePidFile(flags["pid-file"] as string | undefined, created.pid);
    return { rec, cgroup: created.cgroup, execed: created.execed };
  } catch (e) {
    if (rec.pid) {
      trampoline().kill(rec.pid, K.SIGKILL);
      await waitGone(rec, 5000);
    }
    await created?.execed?.().catch(() => {});
    removeCgroupDirs(rec.cgroupPaths);
    s.remove(id);
    throw e;
  } finally {
    if (consoleFd !== undefined) trampoline().close(consoleFd);
  }
}

/** The process of `exec --process FILE` or of `exec ID CMD...` with runc's flags. */
function execProcess(
  rec: OciRecord,
  flags: Record<string, string | string[] | boolean | undefined>,
  args: string[],
): Process {
  const file = flags.process as string | undefined;
  if (file) {
    let p: Process;
    try {
      p = JSON.parse(Deno.readTextFileSync(absolute(file)));
    } catch (e) {
      if (e instanceof SyntaxError) {
        throw new ContainerError("parse process", file, undefined, e.message);
      }
      throw fromDenoError("read process", file, e);
    }
    if (!Array.isArray(p.args) || !p.args.length) {
      throw new ContainerError("process", file, undefined, "args must name a command");
    }
    p.user = p.user ?? { uid: 0, gid: 0 };
    p.cwd = p.cwd || "/";
    checkProcessAttributes(p);
    return p;
  }
  if (!args.length) throw usageError("exec needs a command (or --process FILE)");
  const base = rec.spec.process;
  const [uid, gid] = ((flags.user as string | undefined) ?? "").split(":");
  return {
    ...base,
    args,
    terminal: flags.tty === true,
    env: [...(base.env ?? []), ...((flags.env as string[] | undefined) ?? [])],
    cwd: (flags.cwd as string | undefined) ?? base.cwd,
    user: flags.user === undefined
      ? base.user
      : { uid: Number(uid), gid: gid === undefined ? 0 : Number(gid) },
  };
}

const EXEC_FLAGS: FlagDef[] = [
  { name: "process", short: "p", value: true, meta: "FILE", help: "process.json to run" },
  { name: "pid-file", value: true, meta: "FILE", help: "Write the process's pid here" },
  { name: "console-socket", value: true, meta: "SOCKET", help: "Receives the pty master" },
  { name: "detach", short: "d", help: "Return once the process runs" },
  { name: "tty", short: "t", help: "A pty for the process" },
  { name: "cwd", value: true, meta: "DIR", help: "Working directory" },
  { name: "env", short: "e", value: true, repeat: true, meta: "K=V", help: "Set a variable" },
  { name: "user", short: "u", value: true, meta: "UID[:GID]", help: "Run as this user" },
  { name: "preserve-fds", value: true, meta: "N", help: "Pass N more fds (only 0 supported)" },
];

async function doExec(
  id: string,
  flags: Record<string, string | string[] | boolean | undefined>,
  args: string[],
): Promise<number> {
  const s = store();
  const rec = s.read(id);
  const status = s.status(rec);
  if (status !== "running" && status !== "created") {
    throw new ContainerError("exec", id, undefined, `cannot exec in a ${status} container`);
  }
  const proc = execProcess(rec, flags, args);
  const spec: Spec = { ...rec.spec, process: proc };
  const consoleSocket = flags["console-socket"] as string | undefined;
  if (proc.terminal && flags.detach && !consoleSocket) {
    throw usageError("cannot allocate tty if runc will detach without setting console socket");
  }
  const namespaces = rec.spec.linux.namespaces.map((n) => n.type);
  const security = securityOps(spec);
  // process.json's own rlimits and I/O priority, the container's personality, as runc's exec.
  const attributes = processAttributeOps(spec);
  const joinCgroup = async (child: number) => {
    if (Deno.uid() === 0 && rec.cgroupPaths.length) {
      (await import("../cgroups/join.ts")).joinCgroupsOf(rec.pid, child);
    }
  };
  const plan = (terminal?: Parameters<typeof buildJoinPlan>[0]["terminal"]) =>
    buildJoinPlan({
      pid: rec.pid,
      execHelperFd: execHelperFd(),
      namespaces,
      args: proc.args,
      env: proc.env ?? [],
      cwd: proc.cwd,
      terminal,
      rlimits: proc.rlimits,
      attributeOps: attributes,
      securityOps: security,
    });
  if (!flags.detach) {
    return await launch({
      plan,
      cloneFlags: 0,
      command: proc.args[0],
      terminal: proc.terminal,
      interactive: true,
      hooks: {
        beforeRelease: joinCgroup,
        started: (pid) => writePidFile(flags["pid-file"] as string | undefined, pid),
      },
    });
  }
  // Detached: the caller's subreaper adopts the process, so no parent-death
  // signal; this process returns once the command was executed.
  const consoleFd = consoleSocket
    ? (await import("../../ffi/unix_socket.ts")).connectUnix(absolute(consoleSocket))
    : undefined;
  const size = proc.consoleSize;
  const detached = removeOps(
    plan(
      proc.terminal && consoleFd !== undefined
        ? { socketFd: consoleFd, size: { rows: size?.height || 24, cols: size?.width || 80 } }
        : undefined,
    ),
    (op) =>
      op.call === "check_parent" || (op.call === "prctl" && op.args[0] === K.PR_SET_PDEATHSIG),
  );
  const t = trampoline();
  const { pid, errorFd, syncFd } = t.spawn(0, encodePlan(detached), -1);
  if (consoleFd !== undefined) t.close(consoleFd);
  try {
    await joinCgroup(pid);
  } catch (e) {
    t.close(syncFd);
    t.kill(pid, K.SIGKILL);
    await t.wait(pid).catch(() => {});
    throw e;
  }
  t.release(syncFd);
  const record = await t.readFull(errorFd, 8);
  t.close(errorFd);
  if (record.length === 8) {
    await t.wait(pid).catch(() => {});
    const view = new DataView(record.buffer, record.byteOffset, 8);
    const op = detached[view.getInt32(0, true)];
    const err = view.getInt32(4, true);
    if (op?.exec) throw (await import("../container/exec.ts")).execError(proc.args[0], err);
    throw new ContainerError(op?.label ?? "exec", undefined, err);
  }
  writePidFile(flags["pid-file"] as string | undefined, pid);
  return 0;
}

async function runcRun(
  id: string,
  flags: Record<string, string | string[] | boolean | undefined>,
): Promise<number> {
  checkId(id);
  const loaded = loadFlagsBundle(flags, false);
  if (flags.detach) {
    await doCreate(id, flags, loaded);
    await doStart(id);
    return 0;
  }
  // Foreground: runc's run is create, start and a wait in one process, the
  // container's parent: every hook runs as create and start run it. Its
  // stdio are this process's own, a terminal this process's pty unless
  // --console-socket takes the master.
  const t = trampoline();
  const terminal = loaded.spec.process.terminal && flags["console-socket"] === undefined;
  const tty = terminal ? await import("../tty/console.ts") : undefined;
  const io = terminal ? await import("../../ffi/io.ts") : undefined;
  const sockets = io?.socketPair();
  let created: Awaited<ReturnType<typeof doCreate>> | undefined;
  let reaped = false;
  let stopForwarding: (() => void) | undefined;
  let master: number | null = null;
  let console_: Console | undefined;
  try {
    try {
      created = await doCreate(id, flags, loaded, {
        consoleFd: sockets?.[1],
        consoleSize: tty?.hostWindowSize(),
        // Registered while the init sets itself up (as launch does): off
        // the way to its start; the init dies with this process before.
        released: (pid) => stopForwarding = forwardSignals(pid),
      });
    } finally {
      if (sockets) t.close(sockets[1]);
    }
    const { pid } = created.rec;
    if (sockets && tty && io) {
      // Sent before the init reported ready: here already.
      master = await io.receiveFd(sockets[0]);
      if (master !== null) {
        if (Deno.stdin.isTerminal()) tty.enterRawMode();
        console_ = tty.attachConsole(master, true);
      }
    }
    await doStart(id, created.rec);
    const execed = created.execed;
    created.execed = undefined;
    await execed?.();
    const status = await t.wait(pid);
    reaped = true;
    await console_?.done;
    const oom = created.cgroup && oomSentence(created.cgroup.stats(false));
    if (oom) {
      console.error(`minicontainer: ${oom}`);
      return 137;
    }
    return exitCodeOf(status);
  } finally {
    stopForwarding?.();
    console_?.detach();
    tty?.restoreTerminal();
    if (master !== null) t.close(master);
    if (sockets) t.close(sockets[0]);
    if (created) {
      if (!reaped) {
        // A failed start (doStart killed it already), or an error of ours.
        t.kill(created.rec.pid, K.SIGKILL);
        await t.wait(created.rec.pid).catch(() => {});
      }
      await created.execed?.().catch(() => {});
      if (!flags.keep) await cleanUp(store(), created.rec);
    }
  }
}

/** Runs runc's `create`, `run` or `exec` (lib/cli/oci.ts's main handles the log). */
export async function main(name: string, argv: string[]): Promise<number> {
  switch (name) {
    case "create": {
      const p = parse(argv, CREATE_FLAGS, "create [OPTIONS] ID");
      if (!p) return 0;
      await doCreate(needId(p.rest, "create"), p.flags);
      return 0;
    }
    case "run": {
      const p = parse(argv, [
        ...CREATE_FLAGS,
        { name: "detach", short: "d", help: "Return once the container runs" },
        { name: "keep", help: "Keep the container's state after it exits" },
      ], "run [OPTIONS] ID");
      if (!p) return 0;
      return await runcRun(needId(p.rest, "run"), p.flags);
    }
    case "exec": {
      const p = parse(argv, EXEC_FLAGS, "exec [OPTIONS] ID [CMD ARG...]");
      if (!p) return 0;
      if (p.flags["preserve-fds"] !== undefined && p.flags["preserve-fds"] !== "0") {
        throw usageError("--preserve-fds is not supported");
      }
      return await doExec(needId(p.rest, "exec"), p.flags, p.rest.slice(1));
    }
  }
  throw usageError(`unknown command ${name}`);
}
