/**
 * `minicontainer logs [-f] [--tail N] [-t] NAME`: a detached container's
 * output, stdout to stdout and stderr to stderr.
 * @module
 */

import { OutputClosed, print, writeOut } from "./output.ts";
import { liveStatus } from "../container/lifecycle.ts";
import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import { type LogEntry, LogReader, tailOffset } from "../state/logs.ts";
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

/** Writes entries, consecutive ones of a stream in one write (a huge log is millions of lines). */
function show(entries: LogEntry[], timestamps: boolean): void {
  let run = "";
  let stream: string | undefined;
  const flush = () => {
    if (run) writeOut(encoder.encode(run), stream === "stderr" ? Deno.stderr : Deno.stdout);
    run = "";
  };
  for (const e of entries) {
    if (e.stream !== stream) flush();
    stream = e.stream;
    run += timestamps ? `${e.time} ${e.log}` : e.log;
    if (run.length >= 65536) flush();
  }
  flush();
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
  if (tail !== Infinity && !/^\d+$/.test(tailText!)) {
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
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(state.logPath);
  } catch {
    return 0; // no output yet
  }
  try {
    if (tail !== Infinity) file.seekSync(tailOffset(file, tail), Deno.SeekMode.Start);
    const reader = new LogReader(file);
    const emit = (entries: LogEntry[]) => show(entries, timestamps);
    reader.drain(emit);
    if (flags.follow) {
      for (;;) {
        const current = store.read(id);
        const running = current !== undefined && liveStatus(current) === "running";
        reader.drain(emit);
        if (!running) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      reader.drain(emit);
    }
  } catch (e) {
    if (e instanceof OutputClosed) throw e;
    throw fromDenoError("read log", state.logPath, e);
  } finally {
    file.close();
  }
  return 0;
}
