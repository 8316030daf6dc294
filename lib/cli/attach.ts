/**
 * `minicontainer attach [--detach-keys KEYS] NAME`: this terminal to a
 * running `-t` container's, through the attach socket its monitor serves
 * (ffi/monitor.c). The detach keys (default Ctrl-P Ctrl-Q) leave it running.
 * @module
 */

import { print } from "./output.ts";
import { liveStatus, waitRecorded } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import type { WindowSize } from "../tty/pty_ops.ts";

const FLAGS: FlagDef[] = [
  {
    name: "detach-keys",
    value: true,
    meta: "KEYS",
    help: "Keys that detach, comma-separated: a letter or ctrl-X (default ctrl-p,ctrl-q)",
  },
  { name: "help", help: "Show this help" },
];

/**
 * Connects to container `id`'s attach socket, which its monitor serves, or
 * with `name` to another socket of its monitor's.
 */
export async function connectAttach(
  store: StateStore,
  id: string,
  ref: string,
  name = "attach",
): Promise<Deno.UnixConn> {
  // Relative to its folder: a long state root does not fit a socket address.
  const cwd = Deno.cwd();
  try {
    Deno.chdir(store.dir(id));
    return await Deno.connect({ transport: "unix", path: name });
  } catch (e) {
    throw new ContainerError(
      "attach",
      ref,
      undefined,
      `its monitor does not answer (${(e as Error).message})`,
    );
  } finally {
    Deno.chdir(cwd);
  }
}

/** A place in a container's log: the file (by inode) and the bytes of it written. */
export interface LogPosition {
  inode: number;
  size: number;
}

/** Writes all of `bytes` (a socket may take part of a write). */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}

/**
 * Keeps container `id`'s terminal the size of ours, as docker does: the
 * size now, then on each SIGWINCH, as 8-byte struct winsize records on the
 * monitor's window-size socket (ffi/monitor.c, struct sizer). Resolves once
 * the first size is sent, to the function that stops it. Nothing is
 * followed when our stdout is no terminal (no size to give), or when the
 * monitor does not take sizes (it ended meanwhile): the attachment goes on.
 */
async function forwardWindowSize(
  store: StateStore,
  id: string,
  ref: string,
): Promise<() => void> {
  if (!Deno.stdout.isTerminal()) return () => {};
  const { followWindowSize, hostWindowSize } = await import("../tty/console.ts");
  const { winsize } = await import("../tty/pty_ops.ts");
  const conn = await connectAttach(store, id, ref, "attach.winsize").catch(() => undefined);
  if (!conn) return () => {};
  // One send at a time, in order: the last size sent is the terminal's.
  let sending = Promise.resolve();
  const send = (size: WindowSize) => {
    sending = sending.then(() => writeAll(conn, winsize(size))).catch(() => {});
    return sending;
  };
  await send(hostWindowSize());
  const unfollow = followWindowSize(send);
  return () => {
    unfollow();
    sending.finally(() => {
      try {
        conn.close();
      } catch { /* closed by the monitor */ }
    });
  };
}

/** docker's --detach-keys form: "ctrl-p,ctrl-q", "ctrl-@", "a,b". */
export function parseDetachKeys(text: string): number[] {
  return text.split(",").map((k) => {
    const ctrl = /^ctrl-([a-z@\[\\\]^_])$/i.exec(k);
    if (ctrl) return ctrl[1].toUpperCase().charCodeAt(0) & 0x1f;
    if (k.length === 1) return k.charCodeAt(0);
    throw usageError(`--detach-keys "${text}": "${k}" is not a letter or ctrl-X`);
  });
}

/** The `attach` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer attach [OPTIONS] NAME\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (rest.length !== 1) throw usageError("attach takes one container name or id");
  const keys = parseDetachKeys((flags["detach-keys"] as string | undefined) ?? "ctrl-p,ctrl-q");
  const store = new StateStore(globalOptions.stateRoot);
  const id = store.resolve(rest[0]);
  const state = store.read(id);
  if (!state) throw new ContainerError("attach", rest[0], undefined, "no such container");
  if (!state.tty) {
    throw new ContainerError(
      "attach",
      rest[0],
      undefined,
      "it has no terminal (only a container run with -d -t can be attached; see logs)",
    );
  }
  if (liveStatus(state) !== "running") {
    throw new ContainerError("attach", rest[0], undefined, "it is not running");
  }
  return await attachTerminal(store, id, rest[0], keys, true);
}

/**
 * This terminal to running `-t` container `id` through its monitor's
 * attach socket: its output to stdout, and with `input` stdin to it (raw
 * mode on a terminal), until the detach keys (0) or its end (its exit code).
 * `connected` runs once the socket is connected, before anything is relayed,
 * with where the log stands: what it holds up to there is not relayed.
 */
export async function attachTerminal(
  store: StateStore,
  id: string,
  ref: string,
  keys: number[],
  input: boolean,
  connected?: (log: LogPosition) => Promise<void>,
): Promise<number> {
  const conn = await connectAttach(store, id, ref);
  // The monitor's greeting: where its log stands (ffi/monitor.c's greet()).
  const buf = new Uint8Array(16384);
  let got = 0;
  while (got < 16) {
    const n = await conn.read(buf.subarray(got)).catch(() => null);
    if (n === null) break;
    got += n;
  }
  if (got >= 16) {
    const view = new DataView(buf.buffer, 0, 16);
    await connected?.({
      inode: Number(view.getBigUint64(0, true)),
      size: Number(view.getBigUint64(8, true)),
    });
  }
  // Sized before a key is relayed: a command typed at once sees our size.
  const stopSizes = await forwardWindowSize(store, id, ref);
  const { enterRawMode, restoreTerminal } = await import("../tty/console.ts");
  let detached = false;
  try {
    if (input && Deno.stdin.isTerminal()) enterRawMode();
    const output = (async () => {
      // What came with the greeting: the line the terminal has not ended.
      if (got > 16) await Deno.stdout.write(buf.subarray(16, got));
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) return;
        await Deno.stdout.write(buf.subarray(0, n));
      }
    })();
    // stdin to the container; the detach sequence ends the attachment, not the container.
    const typed = async () => {
      const buf = new Uint8Array(4096);
      let matched = 0;
      for (;;) {
        const n = await Deno.stdin.read(buf);
        if (n === null) return;
        const out: number[] = [];
        for (const b of buf.subarray(0, n)) {
          if (b === keys[matched]) {
            if (++matched === keys.length) {
              detached = true;
              return;
            }
            continue;
          }
          // A partial sequence that did not finish goes through as typed.
          out.push(...keys.slice(0, matched), b);
          matched = 0;
        }
        if (!out.length) continue;
        // All of it; refused once the monitor is gone: its last output still comes.
        const sent = await writeAll(conn, new Uint8Array(out)).then(() => true, () => false);
        if (!sent) return await output;
      }
    };
    await Promise.race(input ? [output, typed()] : [output]);
  } finally {
    // Every way out: our SIGWINCH is ours again, and so is our terminal's mode.
    stopSizes();
    restoreTerminal();
  }
  try {
    conn.close();
  } catch { /* closed by the monitor */ }
  if (detached) {
    console.error("\r\nminicontainer: detached; the container goes on");
    return 0;
  }
  // The container ended: its exit code, as docker's attach returns it.
  return (await waitRecorded(store, id))?.exitCode ?? 0;
}
