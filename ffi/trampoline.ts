/**
 * Loads the trampoline shared object and exposes its calls.
 *
 * From source, the launcher builds ffi/build/libmctrampoline.so and it is
 * dlopen()ed from there. A compiled binary carries the .so as bytes
 * (`deno compile --include`), which cannot be dlopen()ed from the binary's
 * virtual file system: those bytes go through memfd_create and are opened as
 * /proc/self/fd/N.
 * @module
 */

import { errno, libc, SysError, writeAll } from "./libc.ts";
import type { EncodedPlan } from "./plan.ts";

// Few symbols on purpose: each costs start-up time in Deno.dlopen, and the
// run path needs nothing else, so it never opens libc at all.
const SYMBOLS = {
  mc_spawn: { parameters: ["u64", "buffer", "u32", "i32", "buffer"], result: "i64" },
  mc_release: { parameters: ["i32"], result: "i32" },
  mc_kill: { parameters: ["i32", "i32"], result: "i32" },
  mc_close: { parameters: ["i32"], result: "void" },
  mc_wait: { parameters: ["i32"], result: "i32", nonblocking: true },
  mc_read_full: { parameters: ["i32", "buffer", "i32"], result: "i32", nonblocking: true },
  mc_abi_version: { parameters: [], result: "i32" },
  mc_memfd: { parameters: ["buffer", "buffer", "i64", "i32"], result: "i32" },
} as const;

/** The ABI version this encoder writes; trampoline.c's mc_abi_version(). */
export const ABI_VERSION = 8;

/** Where the launcher builds the shared object. */
export const TRAMPOLINE_URL = new URL("./build/libmctrampoline.so", import.meta.url);

/** A child cloned by the trampoline, waiting for its release. */
export interface Spawned {
  pid: number;
  /** Read end of the error pipe: EOF alone means execve succeeded. */
  errorFd: number;
  /** Write end of the sync pipe; {@link Trampoline.release} writes and closes it. */
  syncFd: number;
}

/** The trampoline's calls, typed. */
export interface Trampoline {
  /** Clones a child in `cloneFlags` that replays `plan`; throws with the errno. */
  spawn(cloneFlags: number, plan: EncodedPlan, debugFd: number): Spawned;
  /** Lets a child past its wait_sync op and closes the sync pipe. */
  release(syncFd: number): void;
  /** kill(2); returns 0 or the errno. */
  kill(pid: number, signal: number): number;
  /** close(2), errors ignored. */
  close(fd: number): void;
  /** Waits for `pid` without blocking the event loop; its wait status. */
  wait(pid: number): Promise<number>;
  /** Reads up to `len` bytes from `fd`, stopping early only at EOF. */
  readFull(fd: number, len: number): Promise<Uint8Array>;
  /**
   * A close-on-exec memfd named `name` holding `bytes`; with `seal`, sealed
   * against any change by anyone. Throws with the errno.
   */
  memfd(name: string, bytes: Uint8Array, seal: boolean): number;
}

function wrap(lib: Deno.DynamicLibrary<typeof SYMBOLS>): Trampoline {
  const s = lib.symbols;
  const version = s.mc_abi_version();
  if (version !== ABI_VERSION) {
    throw new Error(`trampoline ABI ${version} does not match ${ABI_VERSION}: rebuild ffi/build`);
  }
  return {
    spawn(cloneFlags, plan, debugFd) {
      const fds = new Int32Array(2);
      const pid = Number(s.mc_spawn(BigInt(cloneFlags), plan.buffer, plan.count, debugFd, fds));
      if (pid < 0) throw new SysError("clone", -pid);
      return { pid, errorFd: fds[0], syncFd: fds[1] };
    },
    release(syncFd) {
      const err = s.mc_release(syncFd);
      if (err < 0) throw new SysError("release the container", -err);
    },
    // "|| 0": no -0 for success.
    kill: (pid, signal) => -s.mc_kill(pid, signal) || 0,
    close: (fd) => s.mc_close(fd),
    async wait(pid) {
      const status = await s.mc_wait(pid);
      if (status < 0) throw new SysError(`waitpid ${pid}`, -status);
      return status;
    },
    async readFull(fd, len) {
      const buf = new Uint8Array(len);
      const n = await s.mc_read_full(fd, buf, len);
      if (n < 0) throw new SysError("read", -n);
      return buf.subarray(0, n);
    },
    memfd(name, bytes, seal) {
      const fd = s.mc_memfd(
        new TextEncoder().encode(`${name}\0`),
        bytes,
        BigInt(bytes.length),
        seal ? 1 : 0,
      );
      if (fd < 0) throw new SysError(`make the memfd ${name}`, -fd);
      return fd;
    },
  };
}

let loaded: Trampoline | undefined;

/** The trampoline, loaded from the built file or, failing that, from its bytes. */
export function trampoline(): Trampoline {
  if (loaded) return loaded;
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(TRAMPOLINE_URL, SYMBOLS);
  } catch (fileError) {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(TRAMPOLINE_URL);
    } catch {
      throw new Error(
        `load trampoline ${TRAMPOLINE_URL.pathname}: ${(fileError as Error).message} ` +
          `(run ./minicontainer once, or bash ffi/build.sh, to build it)`,
      );
    }
    return (loaded = loadTrampolineFromBytes(bytes));
  }
  return (loaded = wrap(lib));
}

/** Loads a trampoline from the bytes of its shared object via memfd_create. */
export function loadTrampolineFromBytes(bytes: Uint8Array): Trampoline {
  const MFD_CLOEXEC = 1;
  const fd = libc().memfd_create(
    new TextEncoder().encode("minicontainer-trampoline\0"),
    MFD_CLOEXEC,
  );
  if (fd < 0) throw new SysError("memfd_create", errno());
  // The memfd stays open for the life of the process: the mapping needs no
  // more than the dlopen, but /proc/self/fd/N must exist while it happens.
  writeAll(fd, bytes);
  return wrap(Deno.dlopen(`/proc/self/fd/${fd}`, SYMBOLS));
}
