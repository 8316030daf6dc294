/**
 * minicontainer: parse the command name and hand over to lib/cli/<command>.ts.
 * Commands load lazily so `run`, paid on every container start, loads only
 * its own module graph.
 * @module
 */

import { ContainerError, EXIT_RUNTIME } from "./lib/errors.ts";

/** A subcommand: runs with its arguments, resolves to the exit status. */
type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { load: () => Promise<Command>; summary: string }> = {
  run: {
    load: async () => (await import("./lib/cli/run.ts")).main,
    summary: "Run a command in a new container",
  },
  rootfs: {
    load: async () => (await import("./lib/cli/rootfs.ts")).main,
    summary: "Build the default root filesystem (rootfs build [DIR])",
  },
};

/** The version printed by --version. */
export const VERSION = "0.1.0";

function usage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return [
    "Usage: minicontainer COMMAND [OPTIONS] [ARG...]",
    "",
    "A Linux container runtime.",
    "",
    "Commands:",
    ...names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n].summary}`),
    "",
    "Run 'minicontainer COMMAND --help' for more on a command.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? EXIT_RUNTIME : 0;
  }
  if (name === "--version" || name === "version") {
    console.log(`minicontainer ${VERSION}`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`minicontainer: unknown command "${name}"; see 'minicontainer --help'`);
    return EXIT_RUNTIME;
  }
  return await (await command.load())(rest);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (e instanceof ContainerError) {
      console.error(`minicontainer: ${e.message}`);
      code = e.exitCode;
    } else {
      console.error(`minicontainer: internal error: ${(e as Error)?.stack ?? e}`);
      code = EXIT_RUNTIME;
    }
  }
  Deno.exit(code);
}
