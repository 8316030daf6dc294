/**
 * `minicontainer pull [--insecure] [--platform OS/ARCH] [REGISTRY/]NAME[:TAG|@DIGEST]`.
 * @module
 */

import { print } from "./output.ts";
import { usageError } from "../errors.ts";
import { progressReporter } from "../image/progress.ts";
import { pull } from "../image/pull.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore } from "./image.ts";

const FLAGS: FlagDef[] = [
  { name: "insecure", help: "Plain HTTP (a local registry without TLS)" },
  { name: "platform", value: true, meta: "OS/ARCH", help: "Which image of a multi-platform index" },
  { name: "quiet", short: "q", help: "Print only the image name" },
  { name: "help", help: "Show this help" },
];

/** The `pull` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer pull [OPTIONS] [REGISTRY/]NAME[:TAG|@DIGEST]\n\nOptions:\n${
        flagHelp(FLAGS)
      }`,
    );
    return 0;
  }
  if (rest.length !== 1) throw usageError("pull takes one image reference");
  const store = imageStore();
  const ref = await pull(store, rest[0], {
    insecure: flags.insecure === true,
    platform: flags.platform as string | undefined,
    progress: progressReporter(flags.quiet === true),
  });
  print(ref);
  return 0;
}
