/**
 * `minicontainer rmi IMAGE...`: remove images and the layers nothing uses
 * any more (a container's are kept while it exists).
 * @module
 */

import { ContainerError, usageError } from "../errors.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore, main as imageMain } from "./image.ts";

const FLAGS: FlagDef[] = [{ name: "help", help: "Show this help" }];

/** The `rmi` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    console.log(`Usage: minicontainer rmi IMAGE...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (!rest.length) throw usageError("rmi needs an image name or id");
  const store = imageStore();
  let failed: ContainerError | undefined;
  for (const ref of rest) {
    try {
      const freed = await store.remove(ref);
      console.log(
        `Untagged: ${ref}${freed ? ` (${freed} layer${freed > 1 ? "s" : ""} deleted)` : ""}`,
      );
    } catch (e) {
      if (!(e instanceof ContainerError)) throw e;
      console.error(`minicontainer: ${e.message}`);
      failed = e;
    }
  }
  return failed ? failed.exitCode : 0;
}

/** @deprecated main.ts's old entry for `image`: use image.ts's main. */
export const image: (argv: string[]) => Promise<number> = imageMain;
