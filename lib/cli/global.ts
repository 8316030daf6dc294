/**
 * Options given before the command name (`minicontainer --root DIR ps`),
 * shared by every command.
 * @module
 */

import { DEFAULT_STATE_ROOT } from "../state/store.ts";

/** The global options in effect. */
export const globalOptions: { stateRoot: string } = {
  stateRoot: Deno.env.get("MINICONTAINER_ROOT") ?? DEFAULT_STATE_ROOT,
};
