/**
 * Running one container in the foreground: prepare, clone the child with
 * its plan, release it, forward signals, wait, report. Nothing of it stays
 * on the host: every mount lives in the child's mount namespace.
 * @module
 */

import { encodePlan, type Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { prepareMounts } from "../mounts/prepare.ts";
import type { Spec } from "../spec.ts";
import { writeMappings } from "../userns/mappings.ts";
import type { Console } from "../tty/console.ts";
import { execError } from "./exec.ts";
import { exitCodeOf } from "./exit_status.ts";
import { buildChildPlan, cloneFlags } from "./plan.ts";

/** The signals a foreground container's PID 1 receives from the runtime. */
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

/** Host-side steps around the child's start, for concerns such as cgroups. */
export interface RunHooks {
  /** After the clone, before the child is released: e.g. put it in its cgroup. */
  beforeRelease?(pid: number): void | Promise<void>;
  /** Once the command was executed: the container runs. */
  started?(pid: number): void | Promise<void>;
  /** Once the container has exited (or failed to start), on every path. */
  cleanup?(): void | Promise<void>;
}

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
  /** Ops from the security concern, spliced in before the exec. */
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
  const debug = opts.debug ?? false;
  const say = debug ? (line: string) => console.error(`[parent] ${line}`) : () => {};
  checkRootfs(spec.root.path);
  const mounts = prepareMounts(spec.root.path, spec.mounts);

  // The terminal code loads only for containers that have one.
  const tty = spec.process.terminal ? await import("../tty/console.ts") : undefined;
  const ttyFfi = tty ? await import("../../ffi/io.ts") : undefined;
  const sockets = ttyFfi?.socketPair();
  const plan = buildChildPlan({
    spec,
    mounts,
    init: opts.init ?? false,
    stdio: opts.stdio,
    securityOps: opts.securityOps,
    terminal: sockets && tty ? { socketFd: sockets[1], size: tty.hostWindowSize() } : undefined,
  });
  const encoded = encodePlan(plan, debug);
  say(`plan has ${plan.length} ops`);

  const t = trampoline();
  let pid = -1;
  const forward = new Map<Deno.Signal, () => void>();
  for (const sig of FORWARDED_SIGNALS) {
    const handler = () => {
      say(`forwarding ${sig} to ${pid}`);
      if (pid > 0) t.kill(pid, SIGNAL_NUMBERS[sig]!);
    };
    Deno.addSignalListener(sig, handler);
    forward.set(sig, handler);
  }

  let released = false;
  let errorFd = -1;
  let syncFd = -1;
  let master: number | null = null;
  let console_: Console | undefined;
  try {
    try {
      ({ pid, errorFd, syncFd } = t.spawn(cloneFlags(spec), encoded, debug ? 2 : -1));
    } finally {
      if (sockets) t.close(sockets[1]);
    }
    say(`clone ok, pid ${pid}`);
    if (spec.linux.namespaces.some((n) => n.type === "user" && !n.path)) {
      await writeMappings(pid, {
        uidMappings: spec.linux.uidMappings ?? [],
        gidMappings: spec.linux.gidMappings ?? [],
      });
      say("uid and gid maps written");
    }
    await opts.hooks?.beforeRelease?.(pid);
    released = true;
    t.release(syncFd);

    if (sockets && tty && ttyFfi) {
      master = await ttyFfi.receiveFd(sockets[0]);
      if (master !== null) {
        say(`terminal ready, master fd ${master}`);
        if (opts.interactive && Deno.stdin.isTerminal()) tty.enterRawMode();
        console_ = tty.attachConsole(master, opts.interactive ?? false);
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
      if (op?.exec) throw execError(spec.process.args[0], errno);
      throw new ContainerError(op?.label ?? `step ${index}`, undefined, errno);
    }
    say("execve ok");
    await opts.hooks?.started?.(pid);
    const status = await t.wait(pid);
    await console_?.done;
    const code = exitCodeOf(status);
    say(`container exited, status ${code}`);
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
    for (const [sig, handler] of forward) Deno.removeSignalListener(sig, handler);
    await opts.hooks?.cleanup?.();
  }
}
