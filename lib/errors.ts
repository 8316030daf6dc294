/**
 * Errors as values: every failure carries the operation, the path and the
 * errno it hit, and the exit status the CLI should end with. Only the CLI
 * turns one into the sentence a user reads.
 * @module
 */

import { strerror } from "../ffi/libc.ts";
import { ERRNO, type ErrnoName } from "../ffi/syscalls.ts";

/** Exit status for the runtime's own failures (docker's and runc's 125). */
export const EXIT_RUNTIME = 125;

/** A failure of the runtime, with context. */
export class ContainerError extends Error {
  /**
   * @param op what was being done: "mount proc", "volume", "read rootfs"
   * @param path the path it was done on, if any
   * @param errno the kernel's errno, if the failure came from a system call
   * @param detail a plain reason when there is no errno
   * @param exitCode the status the CLI exits with
   */
  constructor(
    readonly op: string,
    readonly path?: string,
    readonly errno?: number,
    readonly detail?: string,
    readonly exitCode: number = EXIT_RUNTIME,
  ) {
    super(
      `${op}${path !== undefined ? ` ${path}` : ""}: ${
        detail ?? (errno !== undefined ? strerror(errno) : "failed")
      }`,
    );
    this.name = "ContainerError";
  }
}

/** A usage error: bad flags or arguments (exit 125, like docker). */
export function usageError(message: string): ContainerError {
  return new ContainerError("usage", undefined, undefined, message);
}

/**
 * The errno behind a Deno error: its message ends the OS part with
 * "(os error N)" even when `code` names no errno (ESRCH, EBUSY).
 */
export function denoErrno(e: unknown): number | undefined {
  const m = /\(os error (\d+)\)/.exec((e as Error)?.message ?? "");
  if (m) return Number(m[1]);
  const code = (e as { code?: string })?.code;
  return code && code in ERRNO ? ERRNO[code as ErrnoName] : undefined;
}

/** Turns a Deno file-system error into a ContainerError naming `op` and `path`. */
export function fromDenoError(op: string, path: string, e: unknown): ContainerError {
  if (e instanceof ContainerError) return e;
  const errno = denoErrno(e);
  return new ContainerError(
    op,
    path,
    errno,
    errno === undefined ? (e as Error).message : undefined,
  );
}
