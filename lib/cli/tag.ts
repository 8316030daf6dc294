/**
 * `minicontainer tag SOURCE TARGET`: another name for a local image.
 * @module
 */

import { print } from "./output.ts";
import { ContainerError, usageError } from "../errors.ts";
import { parseReference } from "../image/reference.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore } from "./image.ts";

const FLAGS: FlagDef[] = [{ name: "help", help: "Show this help" }];

/** The `tag` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer tag SOURCE TARGET[:TAG]\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (rest.length !== 2) throw usageError("tag takes a source image and a target name");
  const target = parseReference(rest[1]);
  if (target.digest) throw usageError(`tag "${rest[1]}": a tag cannot name a digest`);
  const store = imageStore();
  const image = store.find(rest[0]);
  if (!image) throw new ContainerError("tag", rest[0], undefined, "no such image");
  // A new name has no repo digest until it is pushed.
  const { digest: _, ...rest_ } = image;
  await store.register({ ...rest_, ref: target.local });
  return 0;
}
