/**
 * The two static programs of ffi/build as something execve(2) can run.
 *
 * The monitor (ffi/monitor.c, built as ffi/build/mcmonitor): from source it
 * is the built file; a compiled binary carries it as bytes (`deno compile
 * --include`), which cannot be executed from the binary's virtual file
 * system: they go into a memfd, executed as /proc/self/fd/N (the kernel
 * opens it before close-on-exec closes it).
 *
 * The exec helper (ffi/exec_helper.c, ffi/build/mcexec): always a sealed
 * memfd, whatever the build, since what it guards against is a container
 * reaching the file its processes were executed from (/proc/self/exe).
 * @module
 */

import { SysError } from "./libc.ts";
import { trampoline } from "./trampoline.ts";

/** Where ffi/build.sh builds the monitor. */
export const MONITOR_URL = new URL("./build/mcmonitor", import.meta.url);
/** Where ffi/build.sh builds the exec helper. */
export const EXEC_HELPER_URL = new URL("./build/mcexec", import.meta.url);

let memfdPath: string | undefined;
let execHelper: number | undefined;

function readBuilt(url: URL, what: string): Uint8Array {
  try {
    return Deno.readFileSync(url);
  } catch {
    throw new SysError(`find the ${what} ${url.pathname} (run bash ffi/build.sh)`, 2);
  }
}

/** A path execve(2) can run the monitor from. */
export function monitorPath(): string {
  try {
    if (Deno.statSync(MONITOR_URL).isFile) return MONITOR_URL.pathname;
  } catch { /* compiled: only the bytes are here */ }
  if (memfdPath) return memfdPath;
  const fd = trampoline().memfd("mcmonitor", readBuilt(MONITOR_URL, "monitor"), false);
  return (memfdPath = `/proc/self/fd/${fd}`);
}

/**
 * The fd of a sealed memfd copy of the exec helper (one per process), which
 * a child plan's exec_helper op takes: the container's command, its hooks
 * and `exec`'d commands are executed from it, never from the runtime.
 */
export function execHelperFd(): number {
  if (execHelper === undefined) {
    execHelper = trampoline().memfd("mcexec", readBuilt(EXEC_HELPER_URL, "exec helper"), true);
  }
  return execHelper;
}
