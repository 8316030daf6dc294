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
import { type ContainerState, StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { forEachRef } from "./each_ref.ts";
import { globalOptions } from "./global.ts";
import { STOP_TIMEOUT_ANNOTATION } from "./run.ts";

const START_FLAGS: FlagDef[] = [
  {
    name: "attach",
    short: "a",
    help: "Print its output until it exits; end with its exit code",
  },
  {
    name: "interactive",
    short: "i",
    help: "Forward stdin to it (a container created with -t)",
  },
  {
    name: "detach-keys",
    value: true,
    meta: "KEYS",
    help: "With -a -i on a terminal: keys that detach (default ctrl-p,ctrl-q)",
  },
  { name: "help", help: "Show this help" },
];

const START_HELP = `Usage: minicontainer start [OPTIONS] NAME...

Start created or exited containers in the background under their monitor,
with the stored command, id, name and writable layer (an exited one keeps
what it wrote; its pid is new). A running one is left as it is. Prints each
NAME, or with -a shows the container's output until it exits and ends with
its exit code.

'start ID' naming a container made by runc's create (podman, containerd)
is runc's start instead.

Options:
${flagHelp(START_FLAGS)}`;

const RESTART_FLAGS: FlagDef[] = [
  {
    name: "time",
    short: "t",
    value: true,
    meta: "SECONDS",
    help: "Grace period before SIGKILL (default: run --stop-timeout, else 10)",
  },
  { name: "help", help: "Show this help" },
];

const RESTART_HELP = `Usage: minicontainer restart [OPTIONS] NAME...

Stop each container (its stop signal, then SIGKILL after the grace period)
and start it again under a new monitor: same id, name and writable layer, a
new pid. A created or exited one is just started.

Options:
${flagHelp(RESTART_FLAGS)}`;

/** The `start` command (docker's). */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, START_FLAGS);
  if (flags.help) {
    print(START_HELP);
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
  if (input && !state.tty) {
    throw new ContainerError(
      "start",
      ref,
      undefined,
      "-i forwards stdin only to a container with a terminal (create -t)",
    );
  }
  if (state.tty) {
    await startStored(store, id);
    const { attachTerminal } = await import("./attach.ts");
    return await attachTerminal(store, id, ref, keys, input);
  }
  return await startAttached(store, state);
}

/**
 * start -a of a container without a terminal: started, then its log from
 * where it ended before, to stdout and stderr as written, until it exits.
 */
async function startAttached(store: StateStore, state: ContainerState): Promise<number> {
  const { followLog, showEntries } = await import("./logs.ts");
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(state.logPath ?? "/nonexistent", { read: true });
    file.seekSync(0, Deno.SeekMode.End);
  } catch { /* no log yet: followLog opens it once it is there */ }
  try {
    await startStored(store, state.id);
    const path = store.read(state.id)?.logPath;
    if (path) file = await followLog(store, state.id, path, file, showEntries);
  } finally {
    file?.close();
  }
  return (await waitRecorded(store, state.id))?.exitCode ?? 0;
}

/** The `restart` command. */
export async function restart(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, RESTART_FLAGS);
  if (flags.help) {
    print(RESTART_HELP);
    return 0;
  }
  if (!rest.length) throw usageError("restart needs a container name or id");
  const given = flags.time === undefined ? undefined : Number(flags.time);
  if (given !== undefined && (!Number.isInteger(given) || given < 0)) {
    throw usageError(`--time must be a whole number of seconds, not "${flags.time}"`);
  }
  const store = new StateStore(globalOptions.stateRoot);
  return await forEachRef(rest, async (ref) => {
    const id = store.resolve(ref);
    // No lock held while stopping: the monitor must be able to record the exit.
    const state = store.read(id);
    if (!state) throw new ContainerError("restart", ref, undefined, "no such container");
    if (liveStatus(state) === "running") {
      // Not started again by its policy meanwhile: this start is ours (it clears the mark).
      store.write({ ...state, stoppedByUser: true });
      const own = Number(state.spec.annotations?.[STOP_TIMEOUT_ANNOTATION] ?? 10);
      await stopContainer(store, state, given ?? own);
    }
    await startStored(store, id);
    print(ref);
  });
}
