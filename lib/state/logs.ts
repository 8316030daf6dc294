/**
 * A detached container's log: one JSON object per line, as docker's
 * json-file driver keeps it ({"log", "stream", "time"}), so `logs` can show
 * timestamps and separate stdout from stderr. Both sides work in bounded
 * memory: the writer cuts a line without a newline at {@link MAX_LINE}
 * bytes (docker's 16 KiB), and readers stream the file in chunks, from the
 * start or from where the last N lines begin.
 * @module
 */

import { denoErrno } from "../errors.ts";
import { strerror } from "../../ffi/libc.ts";

/** One logged line. */
export interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

/** A line longer than this is logged in pieces (docker's json-file does the same at 16 KiB). */
export const MAX_LINE = 16 * 1024;

/** A logged line is at most about 6 × MAX_LINE (JSON escapes); anything longer is not ours. */
const MAX_RECORD = 8 * MAX_LINE;

const CHUNK = 64 * 1024;

/**
 * Appends output to a log file, line by line, stamped with the time it
 * arrived. A write the disk refuses (full, failing) never stops the
 * container or its supervisor: the output is dropped, counted, and the
 * first line that can be written again says how much was lost and why.
 */
export class LogWriter {
  private partial: Record<string, string> = { stdout: "", stderr: "" };
  private file: Deno.FsFile;
  private encoder = new TextEncoder();
  /** Bytes of output dropped since the last write that worked, and the errno that dropped them. */
  private lost = 0;
  private lostErrno = 0;
  /** A write stopped half-way: the next one starts on a new line so the torn one stays alone. */
  private torn = false;

  constructor(path: string) {
    this.file = Deno.openSync(path, { create: true, append: true, mode: 0o600 });
  }

  /** Records `text` from `stream`; a line is written once its newline arrives, or at MAX_LINE. */
  write(stream: "stdout" | "stderr", text: string): void {
    const lines = (this.partial[stream] + text).split("\n");
    let rest = lines.pop()!;
    const records = lines.map((l) => ({ log: `${l}\n`, stream }));
    while (rest.length >= MAX_LINE) {
      records.push({ log: rest.slice(0, MAX_LINE), stream });
      rest = rest.slice(MAX_LINE);
    }
    this.partial[stream] = rest;
    this.append(records);
  }

  /** Writes what is left without a newline and closes the file. */
  close(): void {
    this.append(
      (["stdout", "stderr"] as const).filter((s) => this.partial[s]).map((stream) => ({
        log: this.partial[stream],
        stream,
      })),
    );
    this.file.close();
  }

  private append(records: { log: string; stream: "stdout" | "stderr" }[]): void {
    if (!records.length && !this.lost) return;
    const time = new Date().toISOString();
    let out = records.map((r) => `${JSON.stringify({ ...r, time })}\n`).join("");
    if (this.lost) {
      const note = `[minicontainer: ${this.lost} bytes of output were not logged: ${
        strerror(this.lostErrno)
      }]\n`;
      out = `${JSON.stringify({ log: note, stream: "stderr", time })}\n${out}`;
    }
    if (this.torn) out = `\n${out}`;
    const bytes = this.encoder.encode(out);
    let done = 0;
    try {
      while (done < bytes.length) done += this.file.writeSync(bytes.subarray(done));
      this.lost = 0;
      this.torn = false;
    } catch (e) {
      this.lost += records.reduce((n, r) => n + r.log.length, 0);
      this.lostErrno = denoErrno(e) ?? 5; // EIO when Deno names none
      if (done > 0) this.torn = true;
    }
  }
}

/** Parses log lines; a torn last line (written as we read) is left for later. */
export function parseLog(text: string): { entries: LogEntry[]; rest: string } {
  const lines = text.split("\n");
  const rest = lines.pop()!;
  const entries: LogEntry[] = [];
  for (const line of lines) {
    const entry = parseLine(line);
    if (entry) entries.push(entry);
  }
  return { entries, rest };
}

function parseLine(line: string): LogEntry | undefined {
  if (!line.startsWith("{")) return undefined; // the supervisor's own words, not output
  try {
    const e = JSON.parse(line);
    return typeof e?.log === "string" ? e : undefined;
  } catch {
    return undefined; // a line torn by a full disk
  }
}

/**
 * The offset at which the last `n` complete entries of `file` begin, found
 * by reading backwards from the end in chunks: `logs --tail` of a huge log
 * reads only what it shows.
 */
export function tailOffset(file: Deno.FsFile, n: number): number {
  let end = file.seekSync(0, Deno.SeekMode.End);
  if (n <= 0) return end;
  const buf = new Uint8Array(CHUNK);
  let found = 0;
  // Scanning down: where the line after the current byte ends (-1: bytes after
  // the last newline, a line still being written, never counted) and its first byte.
  let lineEnd = -1;
  let after = -1;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const len = end - start;
    file.seekSync(start, Deno.SeekMode.Start);
    let got = 0;
    while (got < len) {
      const r = file.readSync(buf.subarray(got, len));
      if (r === null) break;
      got += r;
    }
    for (let i = got - 1; i >= 0; i--) {
      if (buf[i] === 0x0a) {
        const at = start + i;
        if (lineEnd > at + 1 && after === 0x7b /* "{": an entry */ && ++found === n) return at + 1;
        lineEnd = at;
      }
      after = buf[i];
    }
    end = start;
  }
  return 0;
}

/**
 * Reads `file` forward from where it is to its current end, calling `show`
 * with the entries of each chunk; a line not yet complete is kept for the
 * next call. Memory stays at one chunk plus one line.
 */
export class LogReader {
  private pending = "";
  private decoder = new TextDecoder();
  private buf = new Uint8Array(CHUNK);

  constructor(private file: Deno.FsFile) {}

  /** Shows every complete entry written so far. */
  drain(show: (entries: LogEntry[]) => void): void {
    for (;;) {
      const n = this.file.readSync(this.buf);
      if (!n) return;
      const { entries, rest } = parseLog(
        this.pending + this.decoder.decode(this.buf.subarray(0, n), { stream: true }),
      );
      // A "line" this long is not one of ours: dropped rather than held.
      this.pending = rest.length > MAX_RECORD ? "" : rest;
      show(entries);
    }
  }
}
