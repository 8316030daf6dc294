/**
 * `minicontainer stop [-t SECONDS] NAME...`: the stop signal (SIGTERM
 * unless the image says otherwise), then SIGKILL after the grace period.
 * @module
 */

import { print } from "./output.ts";
import { stopContainer } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { forEachRef } from "./each_ref.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { STOP_TIMEOUT_ANNOTATION } from "./annotations.ts";

const FLAGS: FlagDef[] = [
  {
    name: "time",
    short: "t",
    value: true,
    meta: "SECONDS",
    help: "Grace period before SIGKILL (default: run --stop-timeout, else 10)",
  },
  { name: "help", help: "Show this help" },
];

/** The `stop` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer stop [OPTIONS] NAME...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (!rest.length) throw usageError("stop needs a container name or id");
  const given = flags.time === undefined ? undefined : Number(flags.time);
  if (given !== undefined && (!Number.isFinite(given) || given < 0)) {
    throw usageError(`--time must be a number of seconds, not "${flags.time}"`);
  }
  const store = new StateStore(globalOptions.stateRoot);
  return await forEachRef(rest, async (ref) => {
    const id = store.resolve(ref);
    // No lock held while waiting: the supervisor must be able to record the exit.
    const state = store.read(id);
    if (!state) throw new ContainerError("stop", ref, undefined, "no such container");
    // A stopped container stays stopped whatever its restart policy (docker's rule).
    if (state.restart && state.restart.name !== "no") {
      store.write({ ...state, stoppedByUser: true });
    }
    const own = Number(state.spec.annotations?.[STOP_TIMEOUT_ANNOTATION] ?? 10);
    await stopContainer(store, state, given ?? own);
    print(ref);
  });
}
