/**
 * `minicontainer rename CONTAINER NEW_NAME`: docker's verb, through the
 * state store's names index (lib/state/store.ts rename).
 * @module
 */

import { usageError } from "../errors.ts";
import { checkName, StateStore } from "../state/store.ts";
import { flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { print } from "./output.ts";

const FLAGS = [{ name: "help", help: "Show this help" }];

/** The `rename` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer rename CONTAINER NEW_NAME\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (rest.length !== 2) throw usageError("rename takes a container and its new name");
  checkName(rest[1]);
  const store = new StateStore(globalOptions.stateRoot);
  await store.rename(store.resolve(rest[0]), rest[1]);
  return 0;
}
