/**
 * `minicontainer rootfs build [DIR] [--from-host]`: assemble the default
 * root filesystem offline, from the host's static busybox or its binaries.
 * @module
 */

import { print } from "./output.ts";
import { usageError } from "../errors.ts";
import { buildRootfs } from "../rootfs/build.ts";
import { defaultRootfsPath } from "../rootfs/default.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";

const FLAGS: FlagDef[] = [
  {
    name: "from-host",
    help: "Copy the host's sh, ls, ps... and their libraries even if busybox is there",
  },
  { name: "help", help: "Show this help" },
];

const help = () =>
  `Usage: minicontainer rootfs build [OPTIONS] [DIR]

Build a root filesystem in DIR (default: ${defaultRootfsPath()}),
the one 'run' uses when no --rootfs is given: a static busybox when the host
has one, otherwise the host's own tools and the libraries they load.

Options:
${flagHelp(FLAGS)}`;

/** The `rootfs` command. */
export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    print(help());
    return sub === undefined ? 125 : 0;
  }
  if (sub !== "build") throw usageError(`unknown rootfs command "${sub}"; try 'rootfs build'`);
  const { flags, rest: dirs } = parseArgs(rest, FLAGS);
  if (flags.help) {
    print(help());
    return 0;
  }
  if (dirs.length > 1) throw usageError("rootfs build takes at most one directory");
  const dir = dirs[0] === undefined
    ? defaultRootfsPath()
    : dirs[0].startsWith("/")
    ? dirs[0]
    : `${Deno.cwd()}/${dirs[0]}`;
  const report = await buildRootfs(dir, {
    source: flags["from-host"] ? "host" : "auto",
    log: (line) => console.error(line),
  });
  print(
    `built ${report.dir} from ${report.source}: ${report.files} files` +
      (report.missing.length ? ` (not on this host: ${report.missing.join(", ")})` : ""),
  );
  return 0;
}
