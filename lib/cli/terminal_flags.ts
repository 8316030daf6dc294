/**
 * -i and -t, shared by `run` and `exec`, with docker's refusal of -it when
 * stdin is not a terminal.
 * @module
 */

import { usageError } from "../errors.ts";
import type { FlagDef, ParsedArgs } from "./args.ts";

/** The flags. */
export const TERMINAL_FLAGS: FlagDef[] = [
  {
    name: "interactive",
    short: "i",
    help: "Keep stdin open (with -t: the host terminal in raw mode)",
  },
  {
    name: "tty",
    short: "t",
    help: "Give the command a terminal (a pty from the container's devpts)",
  },
];

/** What -i and -t ask for; -it without a terminal on stdin is a usage error. */
export function terminalFlags(flags: ParsedArgs["flags"]): { tty: boolean; interactive: boolean } {
  const tty = flags.tty === true;
  const interactive = flags.interactive === true;
  if (tty && interactive && !Deno.stdin.isTerminal()) {
    throw usageError("the input device is not a TTY (drop -t, or run from a terminal)");
  }
  return { tty, interactive };
}
