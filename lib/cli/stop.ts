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

const FLAGS: FlagDef[] = [
  {
    name: "time",
    short: "t",
    value: true,
    meta: "SECONDS",
    help: "Grace period before SIGKILL (default 10)",
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
  const grace = Number((flags.time as string | undefined) ?? 10);
  if (!Number.isFinite(grace) || grace < 0) {
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
    await stopContainer(store, state, grace);
    print(ref);
  });
}
