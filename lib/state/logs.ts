/**
 * A detached container's log: one JSON object per line, as docker's
 * json-file driver keeps it ({"log", "stream", "time"}), so `logs` can show
 * timestamps and separate stdout from stderr.
 * @module
 */

/** One logged line. */
export interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

/** Appends output to a log file, line by line, stamped with the time it arrived. */
export class LogWriter {
  private partial: Record<string, string> = { stdout: "", stderr: "" };
  private file: Deno.FsFile;
  private encoder = new TextEncoder();

  constructor(path: string) {
    this.file = Deno.openSync(path, { create: true, append: true, mode: 0o600 });
  }

  /** Records `text` from `stream`; a line is written once its newline arrives. */
  write(stream: "stdout" | "stderr", text: string): void {
    const lines = (this.partial[stream] + text).split("\n");
    this.partial[stream] = lines.pop()!;
    const time = new Date().toISOString();
    const out = lines.map((l) => JSON.stringify({ log: `${l}\n`, stream, time })).join("\n");
    if (out) this.file.writeSync(this.encoder.encode(`${out}\n`));
  }

  /** Writes what is left without a newline and closes the file. */
  close(): void {
    const time = new Date().toISOString();
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.partial[stream]) {
        this.file.writeSync(
          this.encoder.encode(`${JSON.stringify({ log: this.partial[stream], stream, time })}\n`),
        );
      }
    }
    this.file.close();
  }
}

/** Parses log lines; a torn last line (written as we read) is left for later. */
export function parseLog(text: string): { entries: LogEntry[]; rest: string } {
  const lines = text.split("\n");
  const rest = lines.pop()!;
  const entries: LogEntry[] = [];
  for (const line of lines) {
    try {
      entries.push(JSON.parse(line));
    } catch { /* not ours */ }
  }
  return { entries, rest };
}
