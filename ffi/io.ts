/**
 * The trampoline's calls for terminals, pipes and fd passing, opened only
 * by the paths that need them (a pty, a detached container) so that plain
 * `run` pays for none of these symbols at start-up.
 * @module
 */

import { SysError } from "./libc.ts";
import { TRAMPOLINE_URL } from "./trampoline.ts";

const SYMBOLS = {
  mc_pipe: { parameters: ["buffer", "i32"], result: "i32" },
  mc_bpf: { parameters: ["i32", "buffer", "u32"], result: "i64" },
  mc_socketpair: { parameters: ["buffer"], result: "i32" },
  mc_recv_fd: { parameters: ["i32"], result: "i32", nonblocking: true },
  mc_read_some: { parameters: ["i32", "buffer", "i32"], result: "i32", nonblocking: true },
  mc_write_all: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  mc_set_winsize: { parameters: ["i32", "u16", "u16"], result: "i32" },
  mc_tty_raw: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  mc_tty_restore: { parameters: ["i32", "buffer", "i32"], result: "i32" },
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined;

function calls(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  lib ??= Deno.dlopen(TRAMPOLINE_URL, SYMBOLS).symbols;
  return lib;
}

/** A pipe, [read end, write end]; both close on exec unless `inheritable`. */
export function pipe(inheritable = false): [number, number] {
  const fds = new Int32Array(2);
  const err = calls().mc_pipe(fds, inheritable ? 0 : 1);
  if (err < 0) throw new SysError("pipe", -err);
  return [fds[0], fds[1]];
}

/** A close-on-exec unix socket pair. */
export function socketPair(): [number, number] {
  const fds = new Int32Array(2);
  const err = calls().mc_socketpair(fds);
  if (err < 0) throw new SysError("socketpair", -err);
  return [fds[0], fds[1]];
}

/** Receives a file descriptor sent over `sock`; null when the peer closed without one. */
export async function receiveFd(sock: number): Promise<number | null> {
  const fd = await calls().mc_recv_fd(sock);
  if (fd === -61 /* ENODATA */) return null;
  if (fd < 0) throw new SysError("receive the terminal", -fd);
  return fd;
}

/** Reads what is available from `fd` into `buf`: the count, or 0 at EOF or EIO (pty hung up). */
export async function readSome(fd: number, buf: Uint8Array): Promise<number> {
  const n = await calls().mc_read_some(fd, buf, buf.length);
  if (n === -5 /* EIO */) return 0;
  if (n < 0) throw new SysError("read terminal", -n);
  return n;
}

/** Writes all of `bytes` to `fd`. */
export function writeAllTo(fd: number, bytes: Uint8Array): void {
  const err = calls().mc_write_all(fd, bytes, bytes.length);
  if (err < 0) throw new SysError("write terminal", -err);
}

/** Sets the window size of terminal `fd`. */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  const err = calls().mc_set_winsize(fd, rows, cols);
  if (err < 0) throw new SysError("set window size", -err);
}

/** Puts terminal `fd` in raw mode (cfmakeraw); returns the saved mode for {@link restoreMode}. */
export function makeRaw(fd: number): Uint8Array {
  const saved = new Uint8Array(128);
  const err = calls().mc_tty_raw(fd, saved, saved.length);
  if (err < 0) throw new SysError("make the terminal raw", -err);
  return saved;
}

/** Restores a terminal mode saved by {@link makeRaw}. */
export function restoreMode(fd: number, saved: Uint8Array): void {
  const err = calls().mc_tty_restore(fd, saved, saved.length);
  if (err < 0) throw new SysError("restore the terminal", -err);
}

/** bpf(2): its result (often an fd), or throws naming `what` with the errno. */
export function bpf(cmd: number, attr: Uint8Array, what: string): number {
  const r = Number(calls().mc_bpf(cmd, attr, attr.length));
  if (r < 0) throw new SysError(what, -r);
  return r;
}
