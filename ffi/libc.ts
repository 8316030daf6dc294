/**
 * Typed bindings of the libc functions the parent process calls itself.
 *
 * Opened lazily, once. Calls that can block (none today) belong in the
 * trampoline's helpers behind nonblocking symbols; these return at once.
 * @module
 */

const SYMBOLS = {
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  geteuid: { parameters: [], result: "u32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  readlinkat: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  getxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  symlinkat: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  // openat2 has no C library wrapper: syscall(SYS_openat2, dirfd, path, &how, sizeof how).
  syscall: { parameters: ["i64", "i64", "buffer", "buffer", "usize"], result: "i64" },
  // open_tree and mount_setattr: (dirfd, path, flags[, struct, size]).
  syscall_at: {
    name: "syscall",
    parameters: ["i64", "i64", "buffer", "u64", "buffer", "usize"],
    result: "i64",
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Symbols | undefined;

/**
 * The libc symbols, each bound on its first use: Deno.dlopen costs time per
 * symbol, and binding all of them at once took 7-11 ms of a command that
 * calls four (an OCI `run`: mknod, open, fcntl, close).
 */
export function libc(): Symbols {
  if (lib) return lib;
  const symbols: Record<string, unknown> = {};
  for (const name of Object.keys(SYMBOLS) as (keyof typeof SYMBOLS)[]) {
    Object.defineProperty(symbols, name, {
      configurable: true,
      enumerable: true,
      get() {
        const fn = Deno.dlopen("libc.so.6", { [name]: SYMBOLS[name] }).symbols[name];
        Object.defineProperty(symbols, name, { value: fn, enumerable: true });
        return fn;
      },
    });
  }
  lib = symbols as Symbols;
  return lib;
}

/** errno of the last libc call made on this thread. */
export function errno(): number {
  const p = libc().__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

/** The C library's text for an errno: "Operation not permitted". */
export function strerror(err: number): string {
  const p = libc().strerror(err);
  return p ? Deno.UnsafePointerView.getCString(p) : `errno ${err}`;
}

/** An OS error from a libc call, carrying its errno. */
export class SysError extends Error {
  /** @param op what was attempted, @param err the errno */
  constructor(readonly op: string, readonly err: number) {
    super(`${op}: ${strerror(err)}`);
  }
}

/** A pipe whose both ends close on exec: [read end, write end]. */
export function pipeCloexec(): [number, number] {
  const fds = new Int32Array(2);
  const O_CLOEXEC = 0o2000000;
  if (libc().pipe2(fds, O_CLOEXEC) !== 0) throw new SysError("pipe2", errno());
  return [fds[0], fds[1]];
}

/** Closes a file descriptor, ignoring errors (used on cleanup paths). */
export function closeFd(fd: number): void {
  if (fd >= 0) libc().close(fd);
}

/** Writes all of `bytes` to `fd`. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    const n = Number(libc().write(fd, bytes.subarray(done), BigInt(bytes.length - done)));
    if (n < 0) {
      const e = errno();
      if (e === 4) continue;
      throw new SysError("write", e);
    }
    done += n;
  }
}

/** kill(2); returns 0 or the errno. */
export function killPid(pid: number, signal: number): number {
  return libc().kill(pid, signal) === 0 ? 0 : errno();
}

/** The effective user id of this process. */
export function geteuid(): number {
  return libc().geteuid();
}

/** open(path, O_RDONLY|O_DIRECTORY|O_CLOEXEC): a directory's fd, for calls that take one. */
export function openDirectory(path: string): number {
  const fd = libc().open(new TextEncoder().encode(`${path}\0`), 0o200000 | 0o2000000);
  if (fd < 0) throw new SysError(`open ${path}`, errno());
  return fd;
}

const cpath = (path: string) => new TextEncoder().encode(`${path}\0`);

/** mknod(2) for device nodes and overlay whiteouts (Deno has none). */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  const dev = (BigInt(major & 0xfff) << 8n) | BigInt(minor & 0xff) |
    (BigInt(minor & ~0xff) << 12n) |
    (BigInt(major & ~0xfff) << 32n);
  if (libc().mknod(cpath(path), mode, dev) !== 0) throw new SysError(`mknod ${path}`, errno());
}

/** lchown(2): ownership of the link itself, not of what it points to. */
export function lchown(path: string, uid: number, gid: number): void {
  if (libc().lchown(cpath(path), uid, gid) !== 0) throw new SysError(`lchown ${path}`, errno());
}

/** utimensat(2) with AT_SYMLINK_NOFOLLOW: a file's (or symlink's own) times, to the nanosecond. */
export function lutimes(path: string, sec: number, nsec = 0): void {
  const times = new BigInt64Array([BigInt(sec), BigInt(nsec), BigInt(sec), BigInt(nsec)]);
  const AT_FDCWD = -100;
  const AT_SYMLINK_NOFOLLOW = 0x100;
  if (
    libc().utimensat(AT_FDCWD, cpath(path), new Uint8Array(times.buffer), AT_SYMLINK_NOFOLLOW) !== 0
  ) {
    throw new SysError(`set the times of ${path}`, errno());
  }
}

/** lsetxattr(2). */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  if (libc().lsetxattr(cpath(path), cpath(name), value, BigInt(value.length), 0) !== 0) {
    throw new SysError(`set ${name} on ${path}`, errno());
  }
}

/** lgetxattr(2): the value, or undefined when the attribute is not set. */
export function lgetxattr(path: string, name: string): Uint8Array | undefined {
  const buf = new Uint8Array(256);
  const n = Number(libc().lgetxattr(cpath(path), cpath(name), buf, BigInt(buf.length)));
  return n < 0 ? undefined : buf.slice(0, n);
}

/** openat(2): a file descriptor, or -errno (the caller decides which errnos are expected). */
export function openAt(dirFd: number, name: string, flags: number, mode = 0): number {
  const fd = libc().openat(dirFd, cpath(name), flags, mode);
  return fd < 0 ? -errno() : fd;
}

/** SYS_openat2: the same number on x86_64 and aarch64 (the unified table of new calls). */
const SYS_OPENAT2 = 437n;

/**
 * openat2(2) with `resolve` flags (RESOLVE_IN_ROOT: `dirFd` is "/" for
 * the lookup, ".." and absolute symlinks never leave it): a descriptor, or -errno.
 */
export function openAt2(
  dirFd: number,
  name: string,
  flags: number,
  mode: number,
  resolve: number,
): number {
  const how = new Uint8Array(24);
  const v = new DataView(how.buffer);
  v.setBigUint64(0, BigInt(flags), true);
  v.setBigUint64(8, BigInt(mode), true);
  v.setBigUint64(16, BigInt(resolve), true);
  const fd = Number(libc().syscall(SYS_OPENAT2, BigInt(dirFd), cpath(name), how, 24n));
  return fd < 0 ? -errno() : fd;
}

/** mkdirat(2): 0 or -errno. */
export function mkdirAt(dirFd: number, name: string, mode: number): number {
  return libc().mkdirat(dirFd, cpath(name), mode) === 0 ? 0 : -errno();
}

/** symlinkat(2): a link `name` in `dirFd` holding `target`; 0 or -errno. */
export function symlinkAt(target: string, dirFd: number, name: string): number {
  return libc().symlinkat(cpath(target), dirFd, cpath(name)) === 0 ? 0 : -errno();
}

/** fchmod(2): 0 or -errno. */
export function fchmod(fd: number, mode: number): number {
  return libc().fchmod(fd, mode) === 0 ? 0 : -errno();
}

/** mount(2) with file-system options `data`: 0 or -errno. */
export function mountFs(
  source: string,
  target: string,
  type: string,
  flags: number,
  data: string,
): number {
  const options = cpath(data);
  const r = libc().mount(
    cpath(source),
    cpath(target),
    cpath(type),
    BigInt(flags),
    Deno.UnsafePointer.of(options),
  );
  return r === 0 ? 0 : -errno();
}

/** fchown(2): 0 or -errno. */
export function fchown(fd: number, uid: number, gid: number): number {
  return libc().fchown(fd, uid, gid) === 0 ? 0 : -errno();
}

/** statx(2) into `buf` (256 bytes, struct statx); 0 or -errno. */
export function statxAt(
  dirFd: number,
  name: string,
  flags: number,
  mask: number,
  buf: Uint8Array,
): number {
  return libc().statx(dirFd, cpath(name), flags, mask, buf) === 0 ? 0 : -errno();
}

/** readlinkat(2): the link's target bytes, or -errno. */
export function readLinkAt(dirFd: number, name: string): Uint8Array | number {
  const buf = new Uint8Array(4096);
  const n = Number(libc().readlinkat(dirFd, cpath(name), buf, BigInt(buf.length)));
  return n < 0 ? -errno() : buf.slice(0, n);
}

/** getxattr(2), following the path: the value, or undefined when the attribute is not set. */
export function getxattr(path: string, name: string): Uint8Array | undefined {
  const buf = new Uint8Array(256);
  const n = Number(libc().getxattr(cpath(path), cpath(name), buf, BigInt(buf.length)));
  return n < 0 ? undefined : buf.slice(0, n);
}

/** mount(path, target, NULL, MS_BIND): a bind mount in the runtime's own mount namespace. */
export function bindMount(source: string, target: string): void {
  if (libc().mount(cpath(source), cpath(target), null, 4096n, /* MS_BIND */ null) !== 0) {
    throw new SysError(`bind ${source} on ${target}`, errno());
  }
}

/** umount2(target, MNT_DETACH); errno when it fails (EINVAL: not a mount point). */
export function detachMount(target: string): number {
  return libc().umount2(cpath(target), 2 /* MNT_DETACH */) === 0 ? 0 : errno();
}

/** A close-on-exec memfd named `name`; `sealable`: one {@link sealMemfd} can seal. */
export function memfd(name: string, sealable: boolean): number {
  const MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2;
  const flags = MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0);
  const fd = libc().memfd_create(new TextEncoder().encode(`${name}\0`), flags);
  if (fd < 0) throw new SysError("memfd_create", errno());
  return fd;
}

/**
 * Seals a memfd made sealable against any change: writes through any fd or
 * mapping (one reopened through /proc/PID/fd included), resizing, and
 * removing the seals. What its readers get is what was written before.
 */
export function sealMemfd(fd: number, name: string): void {
  const F_ADD_SEALS = 1033;
  const SEALS = 1 | 2 | 4 | 8; // F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
  if (libc().fcntl(fd, F_ADD_SEALS, SEALS) !== 0) {
    throw new SysError(`seal the memfd ${name}`, errno());
  }
}

/** fcntl(fd, F_SETFD, FD_CLOEXEC): `fd` stays out of the programs this process starts. */
export function setCloexec(fd: number): void {
  if (libc().fcntl(fd, 2, /* F_SETFD */ 1 /* FD_CLOEXEC */) !== 0) {
    throw new SysError(`set close-on-exec on fd ${fd}`, errno());
  }
}

const CLONE_NEWPID = 0x20000000;

/**
 * Runs `spawn` (synchronous: a clone made on this thread) with this
 * thread's PID namespace for children set to the one at `path`, so the
 * child it clones is born there (joining a PID namespace by path: setns
 * moves only later children, and the child must be the container's init
 * itself, its pid the one the state reports). The thread's own namespace
 * for children is restored before this returns, on every path. setns with
 * CLONE_NEWPID is allowed in a multi-threaded process and affects only
 * the calling thread; a synchronous FFI call runs on it.
 */
export function inPidNamespace<T>(path: string, spawn: () => T): T {
  const open = (p: string) => libc().open(cpath(p), 0o2000000 /* O_RDONLY | O_CLOEXEC */);
  const target = open(path);
  if (target < 0) throw new SysError(`open pid namespace ${path}`, errno());
  const own = open("/proc/thread-self/ns/pid_for_children");
  if (own < 0) {
    const err = errno();
    libc().close(target);
    throw new SysError("open /proc/thread-self/ns/pid_for_children", err);
  }
  try {
    if (libc().setns(target, CLONE_NEWPID) !== 0) {
      throw new SysError(`join pid namespace ${path}`, errno());
    }
    const restore = () => {
      if (libc().setns(own, CLONE_NEWPID) !== 0) {
        // Later containers would be born in the joined namespace: stop here,
        // whatever spawn's outcome (this error replaces it on purpose).
        throw new SysError("return to the runtime's pid namespace", errno());
      }
    };
    let spawned: T;
    try {
      spawned = spawn();
    } catch (e) {
      restore();
      throw e;
    }
    restore();
    return spawned;
  } finally {
    libc().close(target);
    libc().close(own);
  }
}

/**
 * open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount tree at
 * `path` (with its submounts when `flags` has AT_RECURSIVE), or -errno.
 */
export function openTree(path: string, flags: number): number {
  const fd = Number(
    libc().syscall_at(428n, -100n, /* AT_FDCWD */ cpath(path), BigInt(flags), null, 0n),
  );
  return fd < 0 ? -errno() : fd;
}

/** mount_setattr(2) on the mount fd `fd` (AT_EMPTY_PATH) with struct mount_attr `attr`: 0 or -errno. */
export function mountSetattrFd(fd: number, flags: number, attr: Uint8Array): number {
  const r = Number(
    libc().syscall_at(
      442n,
      BigInt(fd),
      cpath(""),
      BigInt(flags | 0x1000 /* AT_EMPTY_PATH */),
      attr,
      BigInt(attr.length),
    ),
  );
  return r < 0 ? -errno() : 0;
}
