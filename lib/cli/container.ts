/**
 * `minicontainer container VERB`: docker's management-command spelling
 * (`container ls`, `container rm`, ...), and `container prune`, which
 * removes every stopped container.
 * @module
 */

import { usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { print } from "./output.ts";

type Main = (argv: string[]) => Promise<number>;

const VERBS: Record<string, () => Promise<Main>> = {
  ls: async () => (await import("./ps.ts")).main,
  list: async () => (await import("./ps.ts")).main,
  ps: async () => (await import("./ps.ts")).main,
  run: async () => (await import("./run.ts")).main,
  rm: async () => (await import("./rm.ts")).main,
  inspect: async () => (await import("./inspect.ts")).main,
  stop: async () => (await import("./stop.ts")).main,
  kill: async () => (await import("./kill.ts")).main,
  exec: async () => (await import("./exec.ts")).main,
  logs: async () => (await import("./logs.ts")).main,
  cp: async () => (await import("./cp.ts")).main,
  pause: async () => (await import("./pause.ts")).pause,
  unpause: async () => (await import("./pause.ts")).unpause,
  top: async () => (await import("./top.ts")).main,
  stats: async () => (await import("./stats.ts")).main,
  rename: async () => (await import("./rename.ts")).main,
  export: async () => (await import("./save.ts")).exportMain,
  prune: () => Promise.resolve(prune),
};

const PRUNE_FLAGS: FlagDef[] = [
  { name: "force", short: "f", help: "Do not prompt for confirmation" },
  { name: "help", help: "Show this help" },
];

async function prune(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, PRUNE_FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer container prune [OPTIONS]\n\nRemove all stopped containers.\n\nOptions:\n${
        flagHelp(PRUNE_FLAGS)
      }`,
    );
    return 0;
  }
  if (rest.length) throw usageError(`container prune takes no arguments, not "${rest[0]}"`);
  if (!flags.force) {
    if (!Deno.stdin.isTerminal()) {
      throw usageError("container prune asks for confirmation and stdin is not a terminal: use -f");
    }
    const answer = prompt("WARNING! This will remove all stopped containers. Continue? [y/N]");
    if (!/^y(es)?$/i.test(answer ?? "")) return 0;
  }
  const { reclaimDead } = await import("../container/reclaim.ts");
  const { removeStopped } = await import("./system.ts");
  const { humanBytes } = await import("../state/disk_usage.ts");
  const store = new StateStore(globalOptions.stateRoot);
  const out = await reclaimDead(store);
  const removed = await removeStopped(store, out);
  print(`Deleted Containers:\n${removed.map((id) => `${id}\n`).join("")}`);
  print(`Total reclaimed space: ${humanBytes(out.bytes)}`);
  return 0;
}

/** The `container` command. */
export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === "--help" || verb === "-h") {
    print(`Usage: minicontainer container COMMAND\n\nCommands: ${Object.keys(VERBS).join(", ")}`);
    return verb === undefined ? 125 : 0;
  }
  const load = VERBS[verb];
  if (!load) {
    throw usageError(`unknown container command "${verb}"; see 'minicontainer container --help'`);
  }
  return await (await load())(rest);
}
