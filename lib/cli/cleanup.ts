/**
 * `minicontainer __cleanup ID`: internal, executed by a detached container's
 * monitor once the container has ended.
 * @module
 */

import { cleanup } from "../container/detached_run.ts";
import { usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { globalOptions } from "./global.ts";

/** The cleanup command. */
export async function main(argv: string[]): Promise<number> {
  if (argv.length !== 1) throw usageError("__cleanup takes one container id");
  return await cleanup(new StateStore(globalOptions.stateRoot), argv[0]);
}
