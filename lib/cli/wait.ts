/**
 * `minicontainer wait NAME...`: blocks until each container exits and
 * prints its exit code, as docker does.
 * @module
 */

import { print } from "./output.ts";
import { liveStatus } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { forEachRef } from "./each_ref.ts";
import { globalOptions } from "./global.ts";

const FLAGS: FlagDef[] = [{ name: "help", help: "Show this help" }];

/** The `wait` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer wait NAME...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (!rest.length) throw usageError("wait needs a container name or id");
  const store = new StateStore(globalOptions.stateRoot);
  return await forEachRef(rest, async (ref) => {
    const id = store.resolve(ref);
    for (;;) {
      const state = store.read(id);
      if (!state) throw new ContainerError("wait", ref, undefined, "the container was removed");
      const status = liveStatus(state);
      // Exited and recorded (the exit record counts: the monitor writes it first).
      if (status === "exited" && state.exitCode !== undefined) {
        print(String(state.exitCode));
        return;
      }
      if (status === "unknown") {
        throw new ContainerError(
          "wait",
          ref,
          undefined,
          "its monitor died before recording the exit; the exit code is unknown",
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  });
}
