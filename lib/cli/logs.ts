/**
 * `minicontainer logs [-f] [--tail N] [-t] NAME`: a detached container's
 * output, stdout to stdout and stderr to stderr.
 * @module
 */

import { print } from "./output.ts";
import { liveStatus } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { type LogEntry, parseLog } from "../state/logs.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";

const FLAGS: FlagDef[] = [
  { name: "follow", short: "f", help: "Keep printing output until the container exits" },
  { name: "tail", short: "n", value: true, meta: "N", help: "Only the last N lines (default all)" },
  { name: "timestamps", short: "t", help: "Prefix each line with the time it was written" },
  { name: "help", help: "Show this help" },
];

const encoder = new TextEncoder();

function show(entries: LogEntry[], timestamps: boolean): void {
  for (const e of entries) {
    const text = timestamps ? `${e.time} ${e.log}` : e.log;
    (e.stream === "stderr" ? Deno.stderr : Deno.stdout).writeSync(encoder.encode(text));
  }
}

/** The `logs` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer logs [OPTIONS] NAME\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (rest.length !== 1) throw usageError("logs takes one container name or id");
  const tailText = flags.tail as string | undefined;
  const tail = tailText === undefined || tailText === "all" ? Infinity : Number(tailText);
  if (!Number.isInteger(tail) && tail !== Infinity || tail < 0) {
    throw usageError(`--tail must be a number, not "${tailText}"`);
  }
  const store = new StateStore(globalOptions.stateRoot);
  const id = store.resolve(rest[0]);
  const state = store.read(id);
  if (!state?.logPath) {
    throw new ContainerError(
      "logs",
      rest[0],
      undefined,
      "this container keeps no log (it was not started with -d)",
    );
  }
  const timestamps = flags.timestamps === true;
  const decoder = new TextDecoder();
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(state.logPath);
  } catch {
    return 0; // no output yet
  }
  const buf = new Uint8Array(65536);
  let pending = "";
  const drain = (): LogEntry[] => {
    for (;;) {
      const n = file.readSync(buf);
      if (!n) break;
      pending += decoder.decode(buf.subarray(0, n), { stream: true });
    }
    const { entries, rest } = parseLog(pending);
    pending = rest;
    return entries;
  };
  const first = drain();
  show(tail === Infinity ? first : first.slice(Math.max(0, first.length - tail)), timestamps);
  if (flags.follow) {
    for (;;) {
      const current = store.read(id);
      const running = current !== undefined && liveStatus(current) === "running";
      show(drain(), timestamps);
      if (!running) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    show(drain(), timestamps);
  }
  file.close();
  return 0;
}
