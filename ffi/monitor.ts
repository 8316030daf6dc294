/**
 * Where the monitor program (ffi/monitor.c, built as ffi/build/mcmonitor)
 * is. From source it is the built file; a compiled binary carries it as
 * bytes (`deno compile --include`), which cannot be executed from the
 * binary's virtual file system: they go into a memfd, executed as
 * /proc/self/fd/N (the kernel opens it before close-on-exec closes it).
 * @module
 */

import { errno, libc, SysError, writeAll } from "./libc.ts";

/** Where ffi/build.sh builds the monitor. */
export const MONITOR_URL = new URL("./build/mcmonitor", import.meta.url);

let memfdPath: string | undefined;

/** A path execve(2) can run the monitor from. */
export function monitorPath(): string {
  try {
    if (Deno.statSync(MONITOR_URL).isFile) return MONITOR_URL.pathname;
  } catch { /* compiled: only the bytes are here */ }
  if (memfdPath) return memfdPath;
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(MONITOR_URL);
  } catch {
    throw new SysError(`find the monitor ${MONITOR_URL.pathname} (run bash ffi/build.sh)`, 2);
  }
  const MFD_CLOEXEC = 1;
  const fd = libc().memfd_create(new TextEncoder().encode("mcmonitor\0"), MFD_CLOEXEC);
  if (fd < 0) throw new SysError("memfd_create", errno());
  writeAll(fd, bytes);
  return (memfdPath = `/proc/self/fd/${fd}`);
}
