/**
 * `minicontainer load [-i FILE|DIR] [--name NAME[:TAG]]`: images from a
 * `docker save` archive or an OCI image layout (directory or tar; stdin
 * without -i).
 * @module
 */

import { print } from "./output.ts";
import { usageError } from "../errors.ts";
import { loadImages } from "../image/load.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore } from "./image.ts";

const FLAGS: FlagDef[] = [
  {
    name: "input",
    short: "i",
    value: true,
    meta: "PATH",
    help: "Archive or layout to read (default: stdin)",
  },
  {
    name: "name",
    value: true,
    meta: "NAME[:TAG]",
    help: "Name for images the archive does not name",
  },
  { name: "help", help: "Show this help" },
];

/** The `load` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer load [OPTIONS]\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (rest.length) throw usageError(`load takes no arguments (use -i ${rest[0]})`);
  const store = imageStore();
  const loaded = await loadImages(
    store,
    (flags.input as string | undefined) ?? "-",
    flags.name as string | undefined,
  );
  for (const ref of loaded) print(`Loaded image: ${ref}`);
  return 0;
}
