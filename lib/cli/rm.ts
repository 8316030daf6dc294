/**
 * `minicontainer rm [-f] NAME...`: remove containers and everything kept
 * for them (state, log, image root).
 * @module
 */

import { print } from "./output.ts";
import { removeContainer, removeUnreadable } from "../container/lifecycle.ts";
import { reclaimDead } from "../container/reclaim.ts";
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
  // What killed commands left in this root (tombstones, dead runs' cgroups) goes too.
  await reclaimDead(store);
  return await forEachRef(rest, async (ref) => {
    const id = store.resolve(ref);
    const removed = await store.withLockOrWhy(id, async (got) => {
      if ("state" in got) await removeContainer(store, got.state, flags.force === true);
      else await removeUnreadable(store, got, flags.force === true);
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
