/**
 * The few file operations a cgroup filesystem needs, each one system call's
 * worth, with failures turned into ContainerErrors that carry the errno.
 * Synchronous on purpose: cgroup set-up sits on every container start and
 * the clean-up must also work from exit paths where nothing is awaited.
 * @module
 */

import { ERRNO } from "../../ffi/syscalls.ts";
import { type ContainerError, denoErrno, fromDenoError } from "../errors.ts";

export { ERRNO };

/** The errno behind a Deno file-system error. */
export const errnoOf: (e: unknown) => number | undefined = denoErrno;

const failure = fromDenoError;

/** Reads a cgroup file; undefined when it cannot be read (missing, or the cgroup is gone). */
export function readOptional(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** Reads a cgroup file, or throws a ContainerError naming it. */
export function readFile(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw failure("read", path, e);
  }
}

/**
 * Writes `value` to an existing cgroup file in one write(2). The file is never
 * created: an interface file that does not exist means the kernel lacks the
 * feature, and callers tell that (ENOENT) apart from a value it refused.
 */
export function writeFile(path: string, value: string): void {
  try {
    Deno.writeTextFileSync(path, value, { create: false });
  } catch (e) {
    throw failure(`write "${value}" to`, path, e);
  }
}

/**
 * Starts, on a background thread, a no-op move of this process into the
 * cgroup it already sits in. The first cgroup.procs write after a quiet
 * spell waits for an RCU grace period (the kernel's global
 * cgroup_threadgroup_rwsem; 5-25 ms on the hosts here), and the writes
 * within the next grace period do not. Paid here, right after the cgroup is
 * made, the wait overlaps the rest of the start instead of holding the
 * child in the sync pipe. Not before the mkdirs: the waiting write holds the
 * kernel's cgroup_mutex, which mkdir needs too.
 */
export function warmAttach(procsPath: string): void {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(procsPath, { write: true });
  } catch {
    return;
  }
  // The write is handed to a worker thread at once, needing no later turn of
  // the event loop (the start path may not yield before the real attach).
  file.write(new TextEncoder().encode(String(Deno.pid))).catch(() => 0).finally(() => file.close());
}

/** Creates one cgroup directory; returns false when it already existed. */
export function makeDir(path: string): boolean {
  try {
    Deno.mkdirSync(path);
    return true;
  } catch (e) {
    if (errnoOf(e) === ERRNO.EEXIST) return false;
    throw failure("create cgroup", path, e);
  }
}

/** Removes one cgroup directory; returns false when it was already gone. */
export function removeDir(path: string): boolean {
  try {
    Deno.removeSync(path);
    return true;
  } catch (e) {
    if (errnoOf(e) === ERRNO.ENOENT) return false;
    throw failure("remove cgroup", path, e);
  }
}

/** Whether `path` exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The pids listed in a cgroup.procs file (none when it is gone). */
export function readPids(procsPath: string): number[] {
  const text = readOptional(procsPath) ?? "";
  return text.split("\n").filter((l) => l !== "").map(Number);
}

/** Sends SIGKILL to each pid, ignoring ones that already exited. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms` milliseconds (the clean-up must stay synchronous). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Removes a cgroup directory that may still be emptying: killed processes
 * leave it a moment after SIGKILL. While the kernel answers EBUSY, `drain`
 * runs again (to catch late forks) and the removal is retried until
 * `timeoutMs` has passed. Returns false when the directory was already gone.
 */
export function removeDirDraining(path: string, drain: () => void, timeoutMs = 5000): boolean {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1;; wait = Math.min(wait * 2, 50)) {
    try {
      return removeDir(path);
    } catch (e) {
      if ((e as ContainerError).errno !== ERRNO.EBUSY || Date.now() > deadline) throw e;
    }
    drain();
    sleepSync(wait);
  }
}

/** The space-separated words of a cgroup v2 list file such as cgroup.controllers. */
export function words(text: string | undefined): Set<string> {
  return new Set((text ?? "").split(/\s+/).filter((w) => w !== ""));
}

/** Parses a "key value" per line file (memory.events, cpu.stat, memory.oom_control). */
export function keyedValues(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? "").split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/** Parses a file holding one number; undefined when missing or not a number. */
export function numberIn(text: string | undefined): number | undefined {
  const t = text?.trim();
  return t !== undefined && /^\d+$/.test(t) ? Number(t) : undefined;
}
