/**
 * System call numbers and kernel constants the child plan uses.
 *
 * Plans name calls ("mount", "pivot_root"); the encoder turns names into this
 * machine's numbers, so a plan reads the same on every architecture. Errno
 * values and flag bits below are identical on x86_64 and aarch64.
 * @module
 */

/** Syscall numbers for x86_64. */
const X86_64 = {
  read: 0,
  write: 1,
  close: 3,
  ioctl: 16,
  rt_sigprocmask: 14,
  socket: 41,
  execve: 59,
  chdir: 80,
  fchdir: 81,
  umask: 95,
  setsid: 112,
  setgroups: 116,
  setresuid: 117,
  setresgid: 119,
  capset: 126,
  pivot_root: 155,
  chroot: 161,
  prctl: 157,
  personality: 135,
  ioprio_set: 251,
  mount: 165,
  umount2: 166,
  sethostname: 170,
  setdomainname: 171,
  openat: 257,
  mkdirat: 258,
  mknodat: 259,
  unlinkat: 263,
  symlinkat: 266,
  fchmodat: 268,
  prlimit64: 302,
  setns: 308,
  unshare: 272,
  seccomp: 317,
  close_range: 436,
  dup3: 292,
  open_tree: 428,
  move_mount: 429,
  mount_setattr: 442,
  faccessat: 269,
} as const;

/** The names a plan may use. */
export type SyscallName = keyof typeof X86_64;

/** Syscall numbers for aarch64 (asm-generic table). */
const AARCH64: Record<SyscallName, number> = {
  read: 63,
  write: 64,
  close: 57,
  ioctl: 29,
  rt_sigprocmask: 135,
  socket: 198,
  execve: 221,
  chdir: 49,
  fchdir: 50,
  umask: 166,
  setsid: 157,
  setgroups: 159,
  setresuid: 147,
  setresgid: 149,
  capset: 91,
  pivot_root: 41,
  chroot: 51,
  prctl: 167,
  personality: 92,
  ioprio_set: 30,
  mount: 40,
  umount2: 39,
  sethostname: 161,
  setdomainname: 162,
  openat: 56,
  mkdirat: 34,
  mknodat: 33,
  unlinkat: 35,
  symlinkat: 36,
  fchmodat: 53,
  prlimit64: 261,
  setns: 268,
  unshare: 97,
  seccomp: 277,
  close_range: 436,
  dup3: 24,
  open_tree: 428,
  move_mount: 429,
  mount_setattr: 442,
  faccessat: 48,
};

/** The syscall table of the machine this runs on. */
export function syscallTable(arch: string = Deno.build.arch): Record<SyscallName, number> {
  if (arch === "x86_64") return X86_64;
  if (arch === "aarch64") return AARCH64;
  throw new Error(`unsupported architecture ${arch}`);
}

/** Namespace flags for clone(2). */
export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

/** mount(2) flags. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  REC: 16384,
  SILENT: 32768,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  I_VERSION: 1 << 23,
  STRICTATIME: 1 << 24,
  LAZYTIME: 1 << 25,
} as const;

/** mount_setattr(2) attribute bits (struct mount_attr's attr_set and attr_clr). */
export const MOUNT_ATTR = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  /** The atime mode: an enum in these bits, cleared whole to set one. */
  _ATIME: 0x70,
  RELATIME: 0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  IDMAP: 0x100000,
  NOSYMFOLLOW: 0x200000,
} as const;

/** sizeof(struct mount_attr): attr_set, attr_clr, propagation, userns_fd, each a u64. */
export const MOUNT_ATTR_SIZE = 32;

/** Miscellaneous constants used by plans. */
export const K = {
  AT_FDCWD: -100,
  MNT_DETACH: 2,
  O_RDONLY: 0,
  O_WRONLY: 1,
  O_CREAT: 0o100,
  O_DIRECTORY: 0o200000,
  O_CLOEXEC: 0o2000000,
  O_PATH: 0o10000000,
  S_IFREG: 0o100000,
  AT_EMPTY_PATH: 0x1000,
  AT_RECURSIVE: 0x8000,
  OPEN_TREE_CLONE: 1,
  MOVE_MOUNT_F_EMPTY_PATH: 0x4,
  MOVE_MOUNT_T_EMPTY_PATH: 0x40,
  S_IFCHR: 0o020000,
  PR_SET_PDEATHSIG: 1,
  PR_SET_DUMPABLE: 4,
  PR_SET_NO_NEW_PRIVS: 38,
  SIGKILL: 9,
  SIG_SETMASK: 2,
  AF_INET: 2,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0o2000000,
  SIOCSIFFLAGS: 0x8914,
  IFF_UP: 0x1,
  IFF_RUNNING: 0x40,
  CLOSE_RANGE_CLOEXEC: 4,
  O_RDWR: 2,
  O_NOCTTY: 0o400,
  TIOCSPTLCK: 0x40045431,
  TIOCGPTPEER: 0x5441,
  TIOCSWINSZ: 0x5414,
  TIOCSCTTY: 0x540e,
} as const;

/** Errno numbers by name (shared by x86_64 and aarch64). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOPNOTSUPP: 95,
} as const;

/** An errno name. */
export type ErrnoName = keyof typeof ERRNO;

/** makedev(3) for the small major/minor numbers of /dev's basic nodes. */
export function makedev(major: number, minor: number): number {
  return ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12);
}
