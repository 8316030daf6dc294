/**
 * A connected unix stream socket as a raw descriptor, for the OCI runtime's
 * --console-socket: the container's child sends its pty master over it, so
 * it must be an fd the clone inherits (a Deno.UnixConn has none to give).
 * Opened only by `create`/`run`/`exec` with --console-socket.
 * @module
 */

import { SysError } from "./libc.ts";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
/** sizeof(sockaddr_un.sun_path). */
const SUN_PATH = 108;

/** Connects to the unix socket at `path`; the fd closes on exec. */
export function connectUnix(path: string): number {
  const lib = Deno.dlopen("libc.so.6", SYMBOLS);
  try {
    const s = lib.symbols;
    const err = () => {
      const p = s.__errno_location();
      return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
    };
    const name = new TextEncoder().encode(path);
    if (name.length >= SUN_PATH) throw new SysError(`connect ${path}`, 36 /* ENAMETOOLONG */);
    const addr = new Uint8Array(2 + SUN_PATH);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(name, 2);
    const fd = s.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new SysError("socket", err());
    if (s.connect(fd, addr, 2 + name.length + 1) !== 0) {
      const e = err();
      s.close(fd);
      throw new SysError(`connect ${path}`, e);
    }
    return fd;
  } finally {
    // The socket outlives the library handle; libc stays mapped anyway.
    lib.close();
  }
}
