/**
 * `minicontainer pause NAME...` and `unpause NAME...`: freeze or thaw every
 * process of running containers (lib/cgroups/freeze.ts).
 * @module
 */

import { liveStatus } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { isFrozen, setFrozen } from "../cgroups/freeze.ts";
import { StateStore } from "../state/store.ts";
import { flagHelp, parseArgs } from "./args.ts";
import { forEachRef } from "./each_ref.ts";
import { globalOptions } from "./global.ts";
import { print } from "./output.ts";

const FLAGS = [{ name: "help", help: "Show this help" }];

async function toggle(argv: string[], frozen: boolean): Promise<number> {
  const verb = frozen ? "pause" : "unpause";
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer ${verb} NAME...\n\n${
        frozen ? "Freeze" : "Thaw"
      } every process of running containers.\n\nOptions:\n${flagHelp(FLAGS)}`,
    );
    return 0;
  }
  if (!rest.length) throw usageError(`${verb} needs a container name or id`);
  const store = new StateStore(globalOptions.stateRoot);
  return await forEachRef(rest, async (ref) => {
    const done = await store.withLock(store.resolve(ref), (state) => {
      if (liveStatus(state) !== "running" || !state.pid) {
        throw new ContainerError(verb, ref, undefined, "the container is not running");
      }
      if (isFrozen(state.pid) === frozen) {
        throw new ContainerError(
          verb,
          ref,
          undefined,
          frozen ? "the container is paused already" : "the container is not paused",
        );
      }
      setFrozen(state.pid, frozen, ref);
      return true;
    });
    if (!done) throw new ContainerError(verb, ref, undefined, "no such container");
    print(ref);
  });
}

/** The `pause` command. */
export function pause(argv: string[]): Promise<number> {
  return toggle(argv, true);
}

/** The `unpause` command. */
export function unpause(argv: string[]): Promise<number> {
  return toggle(argv, false);
}
