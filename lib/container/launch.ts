/**
 * Starting a prepared child plan and seeing it through: signal forwarding,
 * the clone, host-side steps while the child waits (id maps, cgroups), its
 * release, a terminal when it has one, the error record or the exec, the
 * wait, and cleanup on every path. Shared by `run` and `exec`.
 * @module
 */

import { inPidNamespace } from "../../ffi/libc.ts";
import { encodePlan, type Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { debugLine, debugOriginUs } from "../debug.ts";
import { ContainerError } from "../errors.ts";
import type { IdMapping } from "../spec.ts";
import type { Console } from "../tty/console.ts";
import type { WindowSize } from "../tty/pty_ops.ts";
import { writeMappings } from "../userns/mappings.ts";
import { execError } from "./exec.ts";
import { exitCodeOf } from "./exit_status.ts";

/** The signals the child's PID 1 receives from the runtime. */
export const FORWARDED_SIGNALS: readonly Deno.Signal[] = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
];

const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
};

/**
 * Forwards FORWARDED_SIGNALS received by this process to `pid` until the
 * returned function is called.
 */
export function forwardSignals(pid: number, say: (line: string) => void = () => {}): () => void {
  const t = trampoline();
  const forward = new Map<Deno.Signal, () => void>();
  for (const sig of FORWARDED_SIGNALS) {
    const handler = () => {
      say(`forwarding ${sig} to ${pid}`);
      t.kill(pid, SIGNAL_NUMBERS[sig]!);
    };
    Deno.addSignalListener(sig, handler);
    forward.set(sig, handler);
  }
  return () => {
    for (const [sig, handler] of forward) Deno.removeSignalListener(sig, handler);
    forward.clear();
  };
}

/** Host-side steps around the child's start, for concerns such as cgroups. */
export interface RunHooks {
  /** After the clone, before the child is released: e.g. put it in its cgroup. */
  beforeRelease?(pid: number): void | Promise<void>;
  /** Once the command was executed: the container runs. */
  started?(pid: number): void | Promise<void>;
  /** Once the child has exited (or failed to start), on every path. */
  cleanup?(): void | Promise<void>;
}

/** What to launch and how. */
export interface Launch {
  /** The plan, given the terminal to set up when the child has one. */
  plan(terminal?: { socketFd: number; size: WindowSize }): Op[];
  cloneFlags: number;
  /** A PID namespace joined by path: the child is cloned into it. */
  pidNamespace?: string;
  /** The command, for exec error messages. */
  command: string;
  /** Give the child a pty. */
  terminal?: boolean;
  /** With a terminal: forward stdin to it, host terminal in raw mode. */
  interactive?: boolean;
  /** With a terminal: where its output goes instead of stdout (a log copier's pipe). */
  consoleOutput?: number;
  /** Id maps to write for a new user namespace. */
  idMaps?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
  debug?: boolean;
  hooks?: RunHooks;
  /** Resolve to 0 once the command runs, without waiting for it (exec -d). */
  detach?: boolean;
  /**
   * Forward signals from the clone on, not from the release: the hooks
   * before the release take long (a CNI attach, ~200 ms), and an interrupt
   * then must still end in this process's clean-up.
   */
  forwardSignalsEarly?: boolean;
}

/** Launches a child plan; resolves to its exit status (the command's, or 128+signal). */
export async function launch(l: Launch): Promise<number> {
  const debug = l.debug ?? false;
  const say = debug ? debugLine : () => {};
  // The terminal code loads only for children that have one.
  const tty = l.terminal ? await import("../tty/console.ts") : undefined;
  const io = tty ? await import("../../ffi/io.ts") : undefined;
  const sockets = io?.socketPair();
  const plan = l.plan(
    sockets && tty ? { socketFd: sockets[1], size: tty.hostWindowSize() } : undefined,
  );
  const encoded = encodePlan(plan, debug && debugOriginUs());
  say(`plan has ${plan.length} ops`);

  const t = trampoline();
  let pid = -1;
  let stopForwarding: (() => void) | undefined;

  let released = false;
  let errorFd = -1;
  let syncFd = -1;
  let master: number | null = null;
  let console_: Console | undefined;
  try {
    try {
      const spawn = () => t.spawn(l.cloneFlags, encoded, debug ? 2 : -1);
      ({ pid, errorFd, syncFd } = l.pidNamespace ? inPidNamespace(l.pidNamespace, spawn) : spawn());
    } finally {
      if (sockets) t.close(sockets[1]);
    }
    say(`clone ok, pid ${pid}`);
    if (l.forwardSignalsEarly) stopForwarding = forwardSignals(pid, say);
    if (l.idMaps) {
      await writeMappings(pid, l.idMaps);
      say("uid and gid maps written");
    }
    await l.hooks?.beforeRelease?.(pid);
    released = true;
    t.release(syncFd);
    say("released");
    // Registered while the child runs its ops (this thread would only wait
    // for them): ~1 ms of Deno's signal set-up off the way to the exec. A
    // signal before this ends the runtime as during its whole start, and the
    // child with it (parent-death signal); the next command reclaims.
    if (!l.forwardSignalsEarly) stopForwarding = forwardSignals(pid, say);

    if (sockets && tty && io) {
      master = await io.receiveFd(sockets[0]);
      if (master !== null) {
        say(`terminal ready, master fd ${master}`);
        if (l.interactive && Deno.stdin.isTerminal()) tty.enterRawMode();
        console_ = tty.attachConsole(master, l.interactive ?? false, l.consoleOutput);
      }
    }

    const record = await t.readFull(errorFd, 8);
    if (record.length === 8) {
      const view = new DataView(record.buffer, record.byteOffset, 8);
      const index = view.getInt32(0, true);
      const errno = view.getInt32(4, true);
      await t.wait(pid);
      const op = plan[index];
      say(`child failed at op ${index} (${op?.label}): errno ${errno}`);
      if (op?.exec) throw execError(l.command, errno);
      throw new ContainerError(op?.label ?? `step ${index}`, undefined, errno);
    }
    say("execve ok");
    await l.hooks?.started?.(pid);
    if (l.detach) return 0;
    const status = await t.wait(pid);
    await console_?.done;
    const code = exitCodeOf(status);
    say(`exited, status ${code}`);
    return code;
  } finally {
    if (pid > 0 && !released) {
      // Closing the sync pipe unblocks the child into its exit; kill to be sure.
      t.close(syncFd);
      t.kill(pid, K.SIGKILL);
      await t.wait(pid).catch(() => {});
    }
    t.close(errorFd);
    console_?.detach();
    tty?.restoreTerminal();
    if (master !== null) t.close(master);
    if (sockets) t.close(sockets[0]);
    stopForwarding?.();
    await l.hooks?.cleanup?.();
  }
}
