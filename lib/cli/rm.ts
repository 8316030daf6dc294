/**
 * `minicontainer rm [-f] NAME...`: remove containers and everything kept
 * for them (state, log, image root).
 * @module
 */

import { removeContainer } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";

const FLAGS: FlagDef[] = [
  { name: "force", short: "f", help: "Kill a running container first" },
  { name: "help", help: "Show this help" },
];

/** The `rm` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    console.log(`Usage: minicontainer rm [OPTIONS] NAME...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (!rest.length) throw usageError("rm needs a container name or id");
  const store = new StateStore(globalOptions.stateRoot);
  let failed: ContainerError | undefined;
  for (const ref of rest) {
    try {
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
      console.log(ref);
    } catch (e) {
      if (!(e instanceof ContainerError)) throw e;
      console.error(`minicontainer: ${e.message}`);
      failed = e;
    }
  }
  return failed ? failed.exitCode : 0;
}
