/**
 * `minicontainer kill [-s SIGNAL] NAME...`: send a signal (default SIGKILL).
 * @module
 */

import { print } from "./output.ts";
import { parseSignal, signalContainer } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { forEachRef } from "./each_ref.ts";
import { globalOptions } from "./global.ts";

const FLAGS: FlagDef[] = [
  {
    name: "signal",
    short: "s",
    value: true,
    meta: "SIGNAL",
    help: "Signal to send (default KILL)",
  },
  { name: "help", help: "Show this help" },
];

/** The `kill` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer kill [OPTIONS] NAME...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (!rest.length) throw usageError("kill needs a container name or id");
  const signal = parseSignal((flags.signal as string | undefined) ?? "KILL");
  const store = new StateStore(globalOptions.stateRoot);
  return await forEachRef(rest, async (ref) => {
    const id = store.resolve(ref);
    const found = await store.withLock(id, (state) => {
      signalContainer(state, signal);
      return true;
    });
    if (!found) throw new ContainerError("kill", ref, undefined, "no such container");
    print(ref);
  });
}
