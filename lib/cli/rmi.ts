/**
 * `minicontainer rmi IMAGE...`: remove images and the layers nothing uses
 * any more (a container's are kept while it exists).
 * @module
 */

import { print } from "./output.ts";
import { usageError } from "../errors.ts";
import { forEachRef } from "./each_ref.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore, main as imageMain } from "./image.ts";

const FLAGS: FlagDef[] = [
  { name: "force", short: "f", help: "Remove even an image a container uses" },
  { name: "help", help: "Show this help" },
];

/** The `rmi` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer rmi IMAGE...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (!rest.length) throw usageError("rmi needs an image name or id");
  const store = imageStore();
  return await forEachRef(rest, async (ref) => {
    const freed = await store.remove(ref, flags.force === true);
    print(
      `Untagged: ${ref}${freed ? ` (${freed} layer${freed > 1 ? "s" : ""} deleted)` : ""}`,
    );
  });
}

/** @deprecated main.ts's old entry for `image`: use image.ts's main. */
export const image: (argv: string[]) => Promise<number> = imageMain;
