/**
 * Options given before the command name (`minicontainer --root DIR ps`),
 * shared by every command.
 * @module
 */

import { DEFAULT_STATE_ROOT } from "../state/store.ts";

/**
 * Where state lives unless told: /run/minicontainer for root; for another
 * user (whose every run now has state), $XDG_RUNTIME_DIR/minicontainer, or
 * /tmp/minicontainer-UID without one.
 */
function defaultStateRoot(): string {
  if (Deno.uid() === 0) return DEFAULT_STATE_ROOT;
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  return runtime ? `${runtime}/minicontainer` : `/tmp/minicontainer-${Deno.uid()}`;
}

/** The global options in effect. */
export const globalOptions: { stateRoot: string } = {
  stateRoot: Deno.env.get("MINICONTAINER_ROOT") ?? defaultStateRoot(),
};
