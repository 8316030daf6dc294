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
  {
    name: "since",
    value: true,
    meta: "TIME",
    help: "Only lines from TIME on (RFC 3339, or a duration ago: 10s, 5m, 2h)",
  },
  { name: "until", value: true, meta: "TIME", help: "Only lines before TIME (same forms)" },
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

/** A time as --since and --until take it: RFC 3339 or a duration before now; in ms. */
function parseTime(flag: string, text: string): number {
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (d) return Date.now() - Number(d[1]) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[d[2]]!;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000; // Unix seconds
  const t = Date.parse(text);
  if (Number.isNaN(t)) {
    throw usageError(
      `--${flag} "${text}" is not a time (2026-01-02T15:04:05Z) or a duration (10m)`,
    );
  }
  return t;
}

/**
 * The log's files, oldest first: rotation (ffi/monitor.c) renames LOG to
 * LOG.1, LOG.1 to LOG.2 and so on.
 */
function logFiles(path: string): string[] {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const base = path.slice(dir.length + 1);
  const rotated: number[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      const m = e.name.startsWith(`${base}.`) && /^\d+$/.exec(e.name.slice(base.length + 1));
      if (m) rotated.push(Number(m[0]));
    }
  } catch { /* no directory: no log */ }
  return [...rotated.sort((a, b) => b - a).map((n) => `${path}.${n}`), path];
}

function openLog(path: string): Deno.FsFile | undefined {
  try {
    return Deno.openSync(path);
  } catch {
    return undefined; // rotated away meanwhile, or no output yet
  }
}

/** The entries a whole log file holds (its lines that are entries). */
function countEntries(file: Deno.FsFile): number {
  file.seekSync(0, Deno.SeekMode.Start);
  let n = 0;
  new LogReader(file).drain((entries) => (n += entries.length));
  return n;
}

/**
 * Shows what container `id` logs from where `file` is (a descriptor of its
 * log, or none yet) until the container no longer runs, across rotations.
 * Resolves to the file it read last; `keep` says which files the caller
 * closes itself (others are closed here once done with).
 */
export async function followLog(
  store: StateStore,
  id: string,
  path: string,
  file: Deno.FsFile | undefined,
  emit: (entries: LogEntry[]) => void,
  keep: (f: Deno.FsFile) => boolean = () => false,
): Promise<Deno.FsFile | undefined> {
  file ??= openLog(path);
  let reader = file ? new LogReader(file) : undefined;
  for (;;) {
    const current = store.read(id);
    const running = current !== undefined && liveStatus(current) === "running";
    reader?.drain(emit);
    // Rotated: the file we read is LOG.1 now; what follows is in the new LOG.
    const now = openLog(path);
    if (now && (!file || now.statSync().ino !== file.statSync().ino)) {
      reader?.drain(emit);
      if (file && !keep(file)) file.close();
      file = now;
      reader = new LogReader(file);
      continue;
    }
    now?.close();
    if (!running) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  reader?.drain(emit);
  return file;
}

/** Writes entries to stdout or stderr as logged, without timestamps. */
export function showEntries(entries: LogEntry[]): void {
  show(entries, false);
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
      "this container keeps no log (it ran with --rm, or before logs were kept)",
    );
  }
  const timestamps = flags.timestamps === true;
  const since = flags.since === undefined ? undefined : parseTime("since", flags.since as string);
  const until = flags.until === undefined ? undefined : parseTime("until", flags.until as string);
  const emit = (entries: LogEntry[]) => {
    if (since !== undefined || until !== undefined) {
      entries = entries.filter((e) => {
        const t = Date.parse(e.time);
        return (since === undefined || t >= since) && (until === undefined || t < until);
      });
    }
    show(entries, timestamps);
  };
  // Every file is opened once, newest first, and only read through that
  // descriptor: a rotation meanwhile renames names, never what is open.
  const opened = logFiles(state.logPath).reverse().map(openLog).reverse();
  // --tail N: from the newest file back, as many files as hold the last N lines.
  let first = 0;
  let offset = 0;
  if (tail !== Infinity) {
    let want = tail;
    for (first = opened.length - 1; first >= 0; first--) {
      const f = opened[first];
      if (!f) continue;
      const at = tailOffset(f, want);
      if (at > 0 || first === 0) {
        offset = at;
        break;
      }
      want -= countEntries(f);
      if (want <= 0) break;
    }
    first = Math.max(first, 0);
  }
  let file: Deno.FsFile | undefined;
  try {
    for (let i = first; i < opened.length; i++) {
      if (!opened[i]) continue;
      file = opened[i]!;
      file.seekSync(i === first ? offset : 0, Deno.SeekMode.Start);
      new LogReader(file).drain(emit);
    }
    if (flags.follow) {
      file = await followLog(store, id, state.logPath, file, emit, (f) => opened.includes(f));
    }
  } catch (e) {
    if (e instanceof OutputClosed) throw e;
    throw fromDenoError("read log", state.logPath, e);
  } finally {
    for (const f of opened) f?.close();
    if (file && !opened.includes(file)) file.close();
  }
  return 0;
}
