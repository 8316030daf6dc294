/**
 * Starting a detached container under its monitor (ffi/monitor.c): this
 * process prepares everything (mounts, cgroup, the child plan laid out for
 * an address in the monitor), starts the monitor in a session of its own,
 * and the monitor clones the container, so it is its parent: the
 * container's parent-death signal fires if the monitor dies. This process
 * writes the id maps and the cgroup between the clone and the release, as
 * for a foreground container, and returns once the command runs.
 * @module
 */

import { pipe, socketPair, writeAllTo } from "../../ffi/io.ts";
import { execHelperFd, monitorPath } from "../../ffi/monitor.ts";
import { encodePlan, type Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { ContainerError } from "../errors.ts";
import { classifyMaskedPaths } from "../mounts/masks.ts";
import type { RootOverlay } from "../mounts/plan.ts";
import { checkDevices, closeMountFds, prepareMounts } from "../mounts/prepare.ts";
import { securityOps } from "../security/process_ops.ts";
import type { Spec } from "../spec.ts";
import { writeMappings } from "../userns/mappings.ts";
import { execError } from "./exec.ts";
import { buildChildPlan, cloneFlags } from "./plan.ts";
import { checkRootfs, makeCgroup, releaseNetwork, type RunOptions } from "./run.ts";

/** Where the monitor holds the exec helper's memfd (see ffi/monitor.c). */
const MONITOR_EXEC_HELPER_FD = 10;

/** What the monitor needs besides the spec. */

export interface MonitorOptions {
  id: string;
  init: boolean;
  overlay?: RootOverlay;
  /** A pty instead of pipes (run -t); attach then works. */
  tty: boolean;
  /** Without a pty: a stdin pipe that attach clients write to (create -i; start -ai). */
  stdin?: boolean;
  /** The reserved exit record (lib/state/exit_record.ts). */
  exitPath: string;
  logPath: string;
  /** Rotation: bytes a file, files kept. */
  logMaxSize: number;
  logMaxFiles: number;
  /** The attach socket (a tty only). */
  attachPath: string;
  /** Where the monitor's own complaints go. */
  monitorLog: string;
  /** What the monitor executes at the end (`minicontainer __cleanup ID`). */
  cleanup: string[];
  /** Called with the container's cgroup directories once they exist. */
  onCgroup(paths: readonly string[]): void;
  /** Its networking, attached between clone and release (lib/net). */
  net?: RunOptions["net"];
}

/** A started container: its PID 1, its monitor, and the control socket to close once recorded. */
export interface Monitored {
  pid: number;
  monitorPid: number;
  /**
   * Ends the start: `recorded` says the state names the container (else the
   * monitor kills it: nothing would know it). Closing lets the monitor's
   * cleanup run (it waits, so state is never written twice at once).
   */
  done(recorded: boolean): void;
}

/** The memory cgroup file that counts OOM kills, or "-". */
function oomFile(paths: readonly string[]): string {
  for (const p of paths) {
    for (const f of ["memory.events", "memory.oom_control"]) {
      try {
        Deno.statSync(`${p}/${f}`);
        return `${p}/${f}`;
      } catch { /* not this controller */ }
    }
  }
  return "-";
}

/** A random page-aligned address far from where a small static program maps anything. */
function planBase(): number {
  const page = crypto.getRandomValues(new Uint32Array(1))[0] & 0xfffffff;
  return 0x300000000000 + page * 4096;
}

/** Starts `spec` under a new monitor; resolves once the command runs. */
export async function startMonitored(spec: Spec, o: MonitorOptions): Promise<Monitored> {
  checkRootfs(spec.root.path);
  const mounts = prepareMounts(spec.mounts);
  if (mounts.some((m) => m.treeFd !== undefined)) {
    // The monitor clones the container: the runtime's fds are not its.
    closeMountFds(mounts);
    throw new ContainerError(
      "mount",
      undefined,
      undefined,
      "idmapped mounts are not supported for detached containers",
    );
  }
  checkDevices(spec.linux.devices ?? []);
  const cg = makeCgroup(spec, o.id, false);
  const t = trampoline();
  const own: number[] = [];
  let ctl = -1;
  let kept = false;
  let attached = false;
  try {
    if (cg) o.onCgroup(cg.paths);
    // The monitor's fds 4-7 (see monitor.c): what it reads, then the container's ends.
    const [ctlA, ctlB] = socketPair();
    ctl = ctlA;
    own.push(ctlB);
    let handed: number[];
    if (o.tty) {
      const [a, b] = socketPair();
      own.push(a, b);
      handed = [ctlB, a, b, b, b]; // 5 and 7 unused: copies of b, closed by the monitor
    } else {
      const [outR, outW] = pipe();
      const [errR, errW] = pipe();
      own.push(outR, outW, errR, errW);
      handed = [ctlB, outR, errR, outW, errW];
      if (o.stdin) {
        const [inR, inW] = pipe();
        own.push(inR, inW);
        handed.push(inW, inR); // the monitor's 8 and the container's 9
      }
    }
    // The exec helper's sealed memfd is the monitor's fd 10, which the plan
    // names; 8 and 9 without stdin are copies of it, closed by the monitor.
    while (handed.length < 7) handed.push(execHelperFd());
    handed.push(execHelperFd());
    const argv = [
      monitorPath(),
      o.tty ? "1" : o.stdin ? "2" : "0",
      o.exitPath,
      o.logPath,
      String(o.logMaxSize),
      String(o.logMaxFiles),
      cg ? oomFile(cg.paths) : "-",
      o.tty || o.stdin ? o.attachPath : "-",
      // The network's owner lock (lib/net/attach.ts), which the monitor takes over.
      o.net?.attach ? `${o.net.setup.dir}/owner.lock` : "-",
      "--",
      ...o.cleanup,
    ];
    const monitorPid = await startDaemon(argv, handed, o.monitorLog);
    for (const fd of own) t.close(fd);
    own.length = 0;

    const plan = buildChildPlan({
      spec,
      mounts,
      execHelperFd: MONITOR_EXEC_HELPER_FD,
      init: o.init,
      stdio: o.tty ? undefined : [o.stdin ? 9 : 0, 6, 7],
      nullStdin: false,
      overlay: o.overlay,
      masked: classifyMaskedPaths(spec.linux.maskedPaths ?? []),
      securityOps: securityOps(spec),
      terminal: o.tty ? { socketFd: 6, size: { rows: 24, cols: 80 } } : undefined,
    });
    const base = planBase();
    const encoded = encodePlan(plan, false, Deno.build.arch, base);
    const head = new DataView(new ArrayBuffer(32));
    head.setBigUint64(0, BigInt(cloneFlags(spec)), true);
    head.setBigUint64(8, BigInt(base), true);
    head.setBigUint64(16, BigInt(encoded.buffer.length), true);
    head.setUint32(24, encoded.count, true);
    writeAllTo(ctl, new Uint8Array(head.buffer));
    writeAllTo(ctl, encoded.buffer);
    const pidBytes = await t.readFull(ctl, 4);
    if (pidBytes.length !== 4) throw monitorGone(o.monitorLog);
    const pid = new DataView(pidBytes.buffer, pidBytes.byteOffset).getInt32(0, true);
    if (pid < 0) throw new ContainerError("clone the container in its monitor", undefined, -pid);
    try {
      const userns = spec.linux.namespaces.some((n) => n.type === "user" && !n.path);
      if (userns) {
        await writeMappings(pid, {
          uidMappings: spec.linux.uidMappings ?? [],
          gidMappings: spec.linux.gidMappings ?? [],
        });
      }
      cg?.addProcess(pid);
      if (o.net?.attach) {
        const { attachNetwork } = await import("../net/attach.ts");
        attached = true;
        await attachNetwork(o.net.setup, o.id, pid);
      }
    } catch (e) {
      writeAllTo(ctl, new Uint8Array([0])); // the monitor kills the child and exits
      throw e;
    }
    writeAllTo(ctl, new Uint8Array([1]));
    const record = await t.readFull(ctl, 8);
    if (record.length !== 8) throw monitorGone(o.monitorLog);
    const view = new DataView(record.buffer, record.byteOffset, 8);
    const index = view.getInt32(0, true);
    const errno = view.getInt32(4, true);
    if (index !== -1) {
      const op = plan[index];
      if (op?.exec) throw execError(spec.process.args[0], errno);
      throw new ContainerError(op?.label ?? `step ${index}`, undefined, errno);
    }
    if (errno) throw new ContainerError("release the container", undefined, errno);
    kept = true;
    const fd = ctl;
    return {
      pid,
      monitorPid,
      done(recorded) {
        if (recorded) {
          try {
            writeAllTo(fd, new Uint8Array([1]));
          } catch { /* the monitor is gone: so is the container */ }
        }
        t.close(fd);
      },
    };
  } finally {
    for (const fd of own) t.close(fd);
    if (!kept) {
      if (ctl >= 0) t.close(ctl);
      if (attached) await releaseNetwork(o.net);
      cg?.destroy();
    }
  }
}

function monitorGone(log: string): ContainerError {
  let said = "";
  try {
    said = Deno.readTextFileSync(log).trim().split("\n").pop() ?? "";
  } catch { /* it said nothing */ }
  return new ContainerError(
    "start container",
    undefined,
    undefined,
    `its monitor exited without a word${said ? `: ${said}` : ""}`,
  );
}

/**
 * Starts `argv` as a daemon: a new session, stdin /dev/null, stdout and
 * stderr appended to `logPath`, and `fds` as its fds 3, 4, ...; resolves to
 * its pid once it has executed (or throws why it could not).
 */
function startDaemon(argv: string[], fds: number[], logPath: string): Promise<number> {
  // Our child until we exit; then init's (it reaps itself into `minicontainer __cleanup`).
  return startHelper(argv, fds, { logPath, what: "start the container's monitor" });
}

/**
 * A foreground container's log (run without -d or --rm): the monitor
 * program as a copier (`mcmonitor --tee`, see ffi/monitor.c) between the
 * container's stdout and stderr pipes and ours, logging what passes as a
 * detached container's monitor does. The container writes to `output`
 * (this process's copies stay open until `done`); `done` closes them and
 * resolves once both pipes have ended and everything is written.
 */
export async function startLogTee(
  logPath: string,
  maxSize: number,
  maxFiles: number,
): Promise<{ output: [number, number]; done(): Promise<void> }> {
  const t = trampoline();
  const [outR, outW] = pipe();
  const [errR, errW] = pipe();
  let pid: number;
  try {
    pid = await startHelper(
      [monitorPath(), "--tee", logPath, String(maxSize), String(maxFiles)],
      [outR, errR],
      { what: "start the log copier" },
    );
  } catch (e) {
    for (const fd of [outW, errW]) t.close(fd);
    throw e;
  } finally {
    for (const fd of [outR, errR]) t.close(fd);
  }
  return {
    output: [outW, errW],
    async done() {
      for (const fd of [outW, errW]) t.close(fd);
      await t.wait(pid);
    },
  };
}

/**
 * Starts `argv` (the monitor program) with `fds` as its fds 3, 4, ...,
 * stdin /dev/null, and with `logPath` a daemon: a session of its own, its
 * stdout and stderr appended there (else it keeps ours). Resolves to its
 * pid once it has executed (or throws why it could not).
 */
async function startHelper(
  argv: string[],
  fds: number[],
  o: { logPath?: string; what: string },
): Promise<number> {
  const env = Object.entries(Deno.env.toObject()).map(([k, v]) => `${k}=${v}`);
  // Above every source first, so that no placement overwrites a source not yet placed.
  const high = Math.max(...fds) + 1;
  const daemon: Op[] = o.logPath === undefined ? [] : [
    {
      call: "openat",
      args: [K.AT_FDCWD, o.logPath, K.O_WRONLY | K.O_CREAT | K.O_CLOEXEC | 0o2000, 0o600],
      label: `open ${o.logPath}`,
    },
    { call: "dup3", args: [{ back: 1 }, 1, 0], label: "stdout to the log" },
    { call: "dup3", args: [{ back: 2 }, 2, 0], label: "stderr to the log" },
  ];
  const plan: Op[] = [
    { call: "wait_sync", args: [], label: "wait" },
    ...(o.logPath === undefined
      ? []
      : [{ call: "setsid", args: [], label: "start a session" } as Op]),
    { call: "reset_signals", args: [], label: "reset signal handlers" },
    {
      call: "rt_sigprocmask",
      args: [K.SIG_SETMASK, new Uint8Array(8), null, 8],
      label: "unblock signals",
    },
    { call: "chdir", args: ["/"], label: "chdir /" },
    {
      call: "openat",
      args: [K.AT_FDCWD, "/dev/null", K.O_RDWR | K.O_CLOEXEC, 0],
      label: "open /dev/null",
    },
    { call: "dup3", args: [{ back: 1 }, 0, 0], label: "stdin from /dev/null" },
    ...daemon,
    ...fds.map((fd, k): Op => ({
      call: "dup3",
      args: [fd, high + k, 0],
      label: `hand fd ${fd} over`,
    })),
    ...fds.map((_, k): Op => ({
      call: "dup3",
      args: [high + k, 3 + k, 0],
      label: `hand fd ${3 + k} over`,
    })),
    {
      call: "close_range",
      args: [3 + fds.length, 0xffffffff, K.CLOSE_RANGE_CLOEXEC],
      label: "close-on-exec",
      tolerate: ["ENOSYS", "EINVAL"],
    },
    { call: "execve", args: [argv[0], argv, env], label: `execve ${argv[0]}`, exec: true },
  ];
  const t = trampoline();
  const child = t.spawn(0, encodePlan(plan), -1);
  t.release(child.syncFd);
  const record = await t.readFull(child.errorFd, 8);
  t.close(child.errorFd);
  if (record.length === 8) {
    await t.wait(child.pid);
    const errno = new DataView(record.buffer, record.byteOffset).getInt32(4, true);
    throw new ContainerError(o.what, argv[0], errno);
  }
  return child.pid;
}
