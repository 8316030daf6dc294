/**
 * Reading a detached container's log: one JSON object per line, as docker's
 * json-file driver keeps it ({"log", "stream", "time"}), so `logs` can show
 * timestamps and separate stdout from stderr. The writer is the container's
 * monitor (ffi/monitor.c), which cuts a line without a newline at
 * {@link MAX_LINE} bytes (docker's 16 KiB); readers stream the file in
 * chunks, from the start or from where the last N lines begin.
 * @module
 */

/** Log rotation (docker's local driver defaults: 20 MB a file, 5 files). */
export interface LogOptions {
  maxSize: number;
  maxFiles: number;
}

/** docker's `local` log driver defaults. */
export const DEFAULT_LOG: LogOptions = { maxSize: 20 * 1024 * 1024, maxFiles: 5 };

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
  if (!line.startsWith("{")) return undefined; // not an entry (a torn line's rest)
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
