/**
 * docker's `start [-a] [-i] NAME...` and `restart [-t N] NAME...`: a
 * created or exited container runs (again) under a new monitor, as `run -d`
 * starts one (lib/container/detached_run.ts's startStored); restart stops
 * it first. runc's `start ID` is lib/cli/oci.ts's (main.ts decides).
 * @module
 */

import { print } from "./output.ts";
import { liveStatus, stopContainer, waitRecorded } from "../container/lifecycle.ts";
import { startStored } from "../container/detached_run.ts";
import { ContainerError, usageError } from "../errors.ts";
import { parseExitRecord } from "../state/exit_record.ts";
import { type LogEntry, parseLog } from "../state/logs.ts";
import type { LogPosition } from "./attach.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { forEachRef } from "./each_ref.ts";
import { globalOptions } from "./global.ts";
import { givenGrace, ownGrace, STOP_FLAGS } from "./stop.ts";

const START_FLAGS: FlagDef[] = [
  {
    name: "attach",
    short: "a",
    help: "Print its output until it exits; end with its exit code",
  },
  {
    name: "interactive",
    short: "i",
    help: "Forward stdin to it (a container created with -i or -t); its end closes its stdin",
  },
  {
    name: "detach-keys",
    value: true,
    meta: "KEYS",
    help: "With -a -i on a terminal: keys that detach (default ctrl-p,ctrl-q)",
  },
  { name: "help", help: "Show this help" },
];

const startHelp = () =>
  `Usage: minicontainer start [OPTIONS] NAME...

Start created or exited containers in the background under their monitor,
with the stored command, id, name and writable layer (an exited one keeps
what it wrote; its pid is new). A running one is left as it is. Prints each
NAME, or with -a shows the container's output until it exits and ends with
its exit code.

'start ID' naming a container made by runc's create (podman, containerd)
is runc's start instead.

Options:
${flagHelp(START_FLAGS)}`;

const restartHelp = () =>
  `Usage: minicontainer restart [OPTIONS] NAME...

Stop each container (its stop signal, then SIGKILL after the grace period)
and start it again under a new monitor: same id, name and writable layer, a
new pid. A created or exited one is just started.

Options:
${flagHelp(STOP_FLAGS)}`;

/** The `start` command (docker's). */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, START_FLAGS);
  if (flags.help) {
    print(startHelp());
    return 0;
  }
  if (!rest.length) throw usageError("start needs a container name or id");
  const attach = flags.attach === true;
  const input = flags.interactive === true;
  if ((attach || input) && rest.length > 1) {
    throw usageError("start -a or -i takes one container (docker's rule)");
  }
  const { parseDetachKeys } = await import("./attach.ts");
  const keys = parseDetachKeys((flags["detach-keys"] as string | undefined) ?? "ctrl-p,ctrl-q");
  const store = new StateStore(globalOptions.stateRoot);
  if (!attach && !input) {
    return await forEachRef(rest, async (ref) => {
      await startStored(store, store.resolve(ref));
      print(ref);
    });
  }
  const ref = rest[0];
  const id = store.resolve(ref);
  const state = store.read(id);
  if (!state) throw new ContainerError("start", ref, undefined, "no such container");
  if (input && !state.tty && !state.openStdin) {
    throw new ContainerError(
      "start",
      ref,
      undefined,
      "its stdin is closed (create it with -i to give it one)",
    );
  }
  const log = logFrom(store, id, state.logPath);
  let exitRecord: Deno.FsFile | undefined;
  try {
    await startStored(store, id);
    // Held open: a --rm container's folder goes right after its exit, this record's bytes with it.
    try {
      exitRecord = Deno.openSync(`${store.dir(id)}/exit`, { read: true });
    } catch { /* gone already (a --rm container that ended at once): its code with it */ }
    if (!input) await log.follow();
    else if (!state.tty) {
      // Its output from the log (stdout and stderr apart), our stdin to its stdin pipe.
      const { connectAttach } = await import("./attach.ts");
      // Refused only once it has ended (its monitor listens before it starts): nothing to forward.
      const conn = await connectAttach(store, id, ref).catch((e) => {
        const now = store.read(id);
        if (now && liveStatus(now) === "running") throw e;
      });
      if (conn) forwardStdin(conn);
      await log.follow();
      try {
        conn?.close();
      } catch { /* closed already */ }
    } else {
      const { attachTerminal } = await import("./attach.ts");
      try {
        // What it wrote before the attachment (a shell's first prompt) comes from its log.
        return await attachTerminal(store, id, ref, keys, true, (upTo) => log.catchUp(upTo));
      } catch (e) {
        // Ended before the attachment: its socket is gone, its output is in the log.
        const now = store.read(id);
        if (!(e instanceof ContainerError) || (now && liveStatus(now) === "running")) throw e;
        await log.follow();
      }
    }
    const code = (await waitRecorded(store, id))?.exitCode;
    return code ?? (exitRecord ? readHeldExit(exitRecord) : undefined) ?? 0;
  } finally {
    log.close();
    exitRecord?.close();
  }
}

/** The exit code in an exit record held open (lib/state/exit_record.ts). */
function readHeldExit(file: Deno.FsFile): number | undefined {
  const bytes = new Uint8Array(256);
  file.seekSync(0, Deno.SeekMode.Start);
  const n = file.readSync(bytes) ?? 0;
  return parseExitRecord(new TextDecoder().decode(bytes.subarray(0, n)))?.exitCode;
}

/**
 * Copies our stdin to an attach connection to a container without a
 * terminal (its monitor writes it to the container's stdin) and, at its
 * end, says so (the monitor closes the container's stdin: docker's
 * stdin-once). What the monitor sends back is the output, read from the
 * log instead: drained and dropped.
 */
function forwardStdin(conn: Deno.UnixConn): void {
  (async () => {
    const buf = new Uint8Array(16384);
    while ((await conn.read(buf).catch(() => null)) !== null) { /* the log shows it */ }
  })();
  (async () => {
    const buf = new Uint8Array(16384);
    for (;;) {
      const n = await Deno.stdin.read(buf).catch(() => null);
      if (n === null) break;
      try {
        for (let done = 0; done < n;) done += await conn.write(buf.subarray(done, n));
      } catch {
        return; // the container ended
      }
    }
    await conn.closeWrite().catch(() => {});
  })();
}

/** Shows the entries of `file` from where it is to byte `end` (or its end). */
function showTo(file: Deno.FsFile, end: number, show: (entries: LogEntry[]) => void): void {
  const at = file.seekSync(0, Deno.SeekMode.Current);
  const size = Math.min(end, file.statSync().size);
  if (size <= at) return;
  const bytes = new Uint8Array(size - at);
  let got = 0;
  while (got < bytes.length) {
    const n = file.readSync(bytes.subarray(got));
    if (!n) break;
    got += n;
  }
  show(parseLog(new TextDecoder().decode(bytes.subarray(0, got))).entries);
}

/**
 * Container `id`'s log read from its end as it is now (`path`, before the
 * start): what start -a shows is what the container writes from then on,
 * stdout and stderr apart.
 */
function logFrom(store: StateStore, id: string, path: string | undefined) {
  let file: Deno.FsFile | undefined;
  try {
    if (path) {
      file = Deno.openSync(path, { read: true });
      file.seekSync(0, Deno.SeekMode.End);
    }
  } catch { /* no log yet: all of the one the start makes is new */ }
  const current = () => {
    const now = store.read(id)?.logPath;
    if (!file && now) {
      try {
        file = Deno.openSync(now, { read: true });
      } catch { /* nothing written yet */ }
    }
    return now;
  };
  return {
    /** Shows what it writes until it no longer runs, across rotations. */
    async follow(): Promise<void> {
      const { followLog, showEntries } = await import("./logs.ts");
      const now = current();
      if (now) file = await followLog(store, id, now, file, showEntries);
    },
    /** Shows what is logged up to `upTo` (an attachment relays the rest) and not shown yet. */
    async catchUp(upTo: LogPosition): Promise<void> {
      const { showEntries } = await import("./logs.ts");
      const now = current();
      // Rotated since: the file held (whole), then the new one up to the position.
      if (file && file.statSync().ino !== upTo.inode && now) {
        showTo(file, Infinity, showEntries);
        file.close();
        file = undefined;
        try {
          file = Deno.openSync(now, { read: true });
        } catch { /* gone again: what it held is lost to this view, not to the log */ }
      }
      if (file && file.statSync().ino === upTo.inode) showTo(file, upTo.size, showEntries);
    },
    close() {
      file?.close();
    },
  };
}

/** The `restart` command. */
export async function restart(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, STOP_FLAGS);
  if (flags.help) {
    print(restartHelp());
    return 0;
  }
  if (!rest.length) throw usageError("restart needs a container name or id");
  const given = givenGrace(flags.time);
  const store = new StateStore(globalOptions.stateRoot);
  return await forEachRef(rest, async (ref) => {
    const id = store.resolve(ref);
    // No lock held while stopping: the monitor must be able to record the exit.
    const state = store.read(id);
    if (!state) throw new ContainerError("restart", ref, undefined, "no such container");
    if (liveStatus(state) === "running") {
      // Not started again by its policy meanwhile: this start is ours (it clears the mark).
      store.write({ ...state, stoppedByUser: true });
      await stopContainer(store, state, given ?? ownGrace(state));
    }
    await startStored(store, id);
    print(ref);
  });
}
