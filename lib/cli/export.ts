/**
 * `minicontainer export [-o FILE] CONTAINER`: a running container's files
 * as a tar (other file systems mounted in it, /proc and the like, are left
 * out), to stdout without -o.
 * @module
 */

import { liveStatus } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { writeTree } from "../image/tar_write.ts";
import { StateStore } from "../state/store.ts";
import { flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { output, OUTPUT_FLAGS } from "./save.ts";

/** The `export` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, OUTPUT_FLAGS);
  if (flags.help) {
    console.log(
      `Usage: minicontainer export [OPTIONS] CONTAINER\n\nOptions:\n${flagHelp(OUTPUT_FLAGS)}`,
    );
    return 0;
  }
  if (rest.length !== 1) throw usageError("export takes one container");
  const store = new StateStore(globalOptions.stateRoot);
  const state = store.read(store.resolve(rest[0]));
  if (!state || liveStatus(state) !== "running" || !state.pid) {
    throw new ContainerError(
      "export",
      rest[0],
      undefined,
      "the container is not running (its files live only while it runs)",
    );
  }
  await output(
    flags.output as string | undefined,
    (write) => writeTree(`/proc/${state.pid}/root`, write, { sameDevice: true }),
  );
  return 0;
}
