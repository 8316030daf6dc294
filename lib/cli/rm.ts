/**
 * `minicontainer rm [-f] NAME...`: remove containers and everything kept
 * for them (state, log, image root).
 * @module
 */

import { print } from "./output.ts";
import { removeContainer } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { forEachRef } from "./each_ref.ts";
import { globalOptions } from "./global.ts";

const FLAGS: FlagDef[] = [
  { name: "force", short: "f", help: "Kill a running container first" },
  { name: "help", help: "Show this help" },
];

/** The `rm` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer rm [OPTIONS] NAME...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (!rest.length) throw usageError("rm needs a container name or id");
  const store = new StateStore(globalOptions.stateRoot);
  return await forEachRef(rest, async (ref) => {
    const id = store.resolve(ref);
    const removed = await store.withLock(id, async (state) => {
      await removeContainer(store, state, flags.force === true);
      return true;
    });
    if (!removed) {
      throw new ContainerError(
        "remove container",
        ref,
        undefined,
        "no such container (already removed)",
      );
    }
    print(ref);
  });
}
