/**
 * `minicontainer __supervise ID`: internal, started by `run -d`.
 * @module
 */

import { supervise } from "../container/supervise.ts";
import { usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { globalOptions } from "./global.ts";

/** The supervisor command. */
export async function main(argv: string[]): Promise<number> {
  if (argv.length !== 1) throw usageError("__supervise takes one container id");
  return await supervise(new StateStore(globalOptions.stateRoot), argv[0]);
}
