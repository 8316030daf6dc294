/**
 * Writing a file so that a reader, a crash or a full disk never leaves it
 * half-written: the bytes go to a temporary file beside it, are flushed,
 * and the temporary file is renamed over it. Any failure (ENOSPC, EIO, ...)
 * removes the temporary file and is a ContainerError naming the operation,
 * the path and the errno.
 * @module
 */

import { fromDenoError } from "./errors.ts";
import { ownerTag } from "./state/liveness.ts";

const encoder = new TextEncoder();

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Mode of a new file (default 0o644 less the umask). */
  mode?: number;
  /**
   * fsync the data before the rename (default true): after a power cut the
   * file is the old one or the new one, never empty. Off for files on tmpfs.
   */
  sync?: boolean;
}

/**
 * Replaces `path` with `data`, atomically. `op` names the operation in the
 * error ("write state", "write image index").
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  op: string,
  opts: AtomicWriteOptions = {},
): void {
  // Named after its writer (PID-START): one a killed writer left is reclaimed.
  const tmp = `${path}.tmp-${ownerTag()}`;
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: opts.mode });
    for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
    if (opts.sync ?? true) file.syncDataSync();
    file.close();
    file = undefined;
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      file?.close();
    } catch { /* closed */ }
    try {
      Deno.removeSync(tmp);
    } catch { /* never created */ }
    throw fromDenoError(op, path, e);
  }
}
