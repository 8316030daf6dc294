/**
 * A detached container's exit status, kept where a full disk cannot lose
 * it: the supervisor reserves a small file in the container's state folder
 * before the container starts, and at the exit overwrites its bytes in
 * place, which needs no new block on any file system (the log, on the same
 * file system, may have filled it meanwhile). state.json is written after,
 * when it can be; readers take the record when state.json has no exit yet.
 * @module
 */

import { fromDenoError } from "../errors.ts";

/** What the exit record holds. */
export interface ExitRecord {
  exitCode: number;
  oomKilled: boolean;
  finished: string;
}

/** Bytes reserved: the JSON of an {@link ExitRecord} is under 100. */
const SIZE = 256;

const encoder = new TextEncoder();

function recordPath(dir: string): string {
  return `${dir}/exit`;
}

/** Reserves the record's space in container folder `dir` (blank until the exit). */
export function reserveExitRecord(dir: string): void {
  try {
    Deno.writeFileSync(recordPath(dir), new Uint8Array(SIZE).fill(0x20), { mode: 0o600 });
  } catch (e) {
    throw fromDenoError("reserve the exit record", recordPath(dir), e);
  }
}

/** Writes the exit into the reserved bytes, in place. */
export function writeExitRecord(dir: string, record: ExitRecord): void {
  const bytes = new Uint8Array(SIZE).fill(0x20);
  bytes.set(encoder.encode(JSON.stringify(record)).subarray(0, SIZE));
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(recordPath(dir), { write: true });
    for (let done = 0; done < SIZE;) done += file.writeSync(bytes.subarray(done));
  } catch (e) {
    throw fromDenoError("write the exit record", recordPath(dir), e);
  } finally {
    file?.close();
  }
}

/** The exit recorded in container folder `dir`, if the container has exited. */
export function readExitRecord(dir: string): ExitRecord | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(recordPath(dir));
  } catch {
    return undefined; // none reserved (a foreground container), or removed with it
  }
  return parseExitRecord(text);
}

/** An exit record's text as written (blank until the exit). */
export function parseExitRecord(text: string): ExitRecord | undefined {
  try {
    const r = JSON.parse(text.trim() || "null");
    return Number.isInteger(r?.exitCode) ? r : undefined;
  } catch {
    return undefined;
  }
}
