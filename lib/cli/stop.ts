/**
 * `minicontainer stop [-t SECONDS] NAME...`: the stop signal (SIGTERM
 * unless the image says otherwise), then SIGKILL after the grace period.
 * @module
 */

import { print } from "./output.ts";
import { stopContainer } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { forEachRef } from "./each_ref.ts";
import { type ContainerState, StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { STOP_TIMEOUT_ANNOTATION } from "./annotations.ts";

/** stop's flags, restart's too: the grace period before SIGKILL. */
export const STOP_FLAGS: FlagDef[] = [
  {
    name: "time",
    short: "t",
    value: true,
    meta: "SECONDS",
    help: "Grace period before SIGKILL (default: run --stop-timeout, else 10)",
  },
  { name: "help", help: "Show this help" },
];
const FLAGS = STOP_FLAGS;

/** The grace period -t/--time gives (undefined: each container's own), checked. */
export function givenGrace(time: string | string[] | boolean | undefined): number | undefined {
  const given = time === undefined ? undefined : Number(time);
  if (given !== undefined && (!Number.isFinite(given) || given < 0)) {
    throw usageError(`--time must be a number of seconds, not "${time}"`);
  }
  return given;
}

/** A container's own grace period: run's --stop-timeout, else docker's 10 s. */
export function ownGrace(state: ContainerState): number {
  return Number(state.spec.annotations?.[STOP_TIMEOUT_ANNOTATION] ?? 10);
}

/** The `stop` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer stop [OPTIONS] NAME...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (!rest.length) throw usageError("stop needs a container name or id");
  const given = givenGrace(flags.time);
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
    await stopContainer(store, state, given ?? ownGrace(state));
    print(ref);
  });
}
