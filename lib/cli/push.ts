/**
 * `minicontainer push [--insecure] [REGISTRY/]NAME[:TAG]`.
 * @module
 */

import { print } from "./output.ts";
import { usageError } from "../errors.ts";
import { progressReporter } from "../image/progress.ts";
import { push } from "../image/push.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore } from "./image.ts";

const FLAGS: FlagDef[] = [
  { name: "insecure", help: "Plain HTTP (a registry without TLS; loopback ones need not say)" },
  { name: "quiet", short: "q", help: "Print only the digest" },
  { name: "help", help: "Show this help" },
];

/** The `push` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer push [OPTIONS] [REGISTRY/]NAME[:TAG]\n\nOptions:\n${flagHelp(FLAGS)}`,
    );
    return 0;
  }
  if (rest.length !== 1) throw usageError("push takes one image name");
  const { digest, size, tag } = await push(imageStore(), rest[0], {
    insecure: flags.insecure === true,
    progress: progressReporter(flags.quiet === true),
  });
  print(flags.quiet ? digest : `${tag}: digest: ${digest} size: ${size}`);
  return 0;
}
