/**
 * What commands print on stdout. A reader that goes away (`ps | head -1`)
 * is a normal end of the output, not a failure: every printer writes through
 * here, a closed pipe becomes {@link OutputClosed}, and main.ts ends quietly
 * with 141 (128 + SIGPIPE, what `docker ps | head -1` and coreutils end with).
 * @module
 */

/** Thrown when stdout's reader has gone; main.ts exits quietly on it. */
export class OutputClosed extends Error {
  constructor() {
    super("stdout closed");
    this.name = "OutputClosed";
  }
}

/** Exit status after {@link OutputClosed}: 128 + SIGPIPE. */
export const EXIT_OUTPUT_CLOSED = 141;

const encoder = new TextEncoder();

/** Writes all of `bytes` to `file` (stdout unless said), short writes included. */
export function writeOut(bytes: Uint8Array, file: typeof Deno.stdout = Deno.stdout): void {
  try {
    for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe) throw new OutputClosed();
    throw e;
  }
}

/** Prints one line (or several joined by newlines) on stdout. */
export function print(...parts: unknown[]): void {
  writeOut(encoder.encode(`${parts.map(String).join(" ")}\n`));
}
