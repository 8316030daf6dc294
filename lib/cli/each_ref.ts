/**
 * The multi-argument verbs (`stop a b c`, `kill`, `rm`, `rmi`, `inspect`)
 * act on every argument they can, say one line for each they cannot, and
 * end with 125 when any failed: a bad name in the middle never stops the
 * rest (docker's behaviour, with this runtime's exit status for its own
 * failures).
 * @module
 */

import { SysError } from "../../ffi/libc.ts";
import { ContainerError } from "../errors.ts";

/** Runs `fn` for each of `refs`; resolves to 0, or the exit status of the last failure. */
export async function forEachRef(
  refs: readonly string[],
  fn: (ref: string) => void | Promise<void>,
): Promise<number> {
  let failed: ContainerError | undefined;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (e) {
      const err = e instanceof SysError ? new ContainerError(e.op, undefined, e.err) : e;
      if (!(err instanceof ContainerError)) throw err;
      console.error(`minicontainer: ${err.message}`);
      failed = err;
    }
  }
  return failed ? failed.exitCode : 0;
}
