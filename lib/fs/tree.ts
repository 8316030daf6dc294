/**
 * Reading a directory tree that someone else may be changing (a running
 * container's root) without ever being led outside it: the walk holds a file
 * descriptor for every directory, looks each entry up relative to its
 * parent's descriptor and never follows a symlink; a path string is never
 * resolved twice. A name swapped for a symlink between the listing and the
 * open is refused by the kernel (O_NOFOLLOW), a file swapped for a device
 * node or a fifo is never opened for reading (it is checked through an
 * O_PATH descriptor first), and other mounts are not descended into.
 *
 * One purpose, kept apart from the tar writer, so that `export` (and later
 * `cp` and `commit`) share it: everything that copies files out of a
 * container reads them here.
 * @module
 */

import { closeFd, getxattr, openAt, readLinkAt, statxAt } from "../../ffi/libc.ts";
import { ContainerError } from "../errors.ts";

const O_RDONLY = 0;
const O_NONBLOCK = 0o4000;
const O_DIRECTORY = 0o200000;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
const STATX_BASIC_STATS = 0x7ff;
const STATX_MNT_ID = 0x1000;
const ELOOP = 40;
const ENOTDIR = 20;
const ENOENT = 2;

/** S_IFMT types. */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** What statx told about one file (not following a symlink). */
export interface FileStat {
  /** Type and permission bits (st_mode). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  nlink: number;
  /** Device and inode, "major:minor:ino": the file's identity (hard links share it). */
  id: string;
  rdevMajor: number;
  rdevMinor: number;
  /** The mount it lives on. */
  mountId: bigint;
}

function parseStatx(buf: Uint8Array): FileStat {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    nlink: v.getUint32(16, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    mode: v.getUint16(28, true),
    size: Number(v.getBigUint64(40, true)),
    mtime: Number(v.getBigInt64(112, true)),
    rdevMajor: v.getUint32(128, true),
    rdevMinor: v.getUint32(132, true),
    id: `${v.getUint32(136, true)}:${v.getUint32(140, true)}:${v.getBigUint64(32, true)}`,
    mountId: v.getBigUint64(144, true),
  };
}

function statx(dirFd: number, name: string, flags: number): FileStat | number {
  const buf = new Uint8Array(256);
  const r = statxAt(dirFd, name, flags, STATX_BASIC_STATS | STATX_MNT_ID, buf);
  return r < 0 ? r : parseStatx(buf);
}

/** The stat of an open descriptor. */
export function statFd(fd: number, what: string): FileStat {
  const s = statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  if (typeof s === "number") throw new ContainerError("stat", what, -s);
  return s;
}

/**
 * Opens the directory at `path` (following it: a trusted host path, or
 * /proc/PID/root, which names a process's root). The walk's starting point.
 */
export function openRoot(path: string): number {
  const fd = openAt(-100, /* AT_FDCWD */ path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw new ContainerError("open", path, -fd);
  return fd;
}

/** The path through which a held descriptor is reopened or read: it names that very object. */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/** An attribute of the object `fd` holds (a directory or a verified regular file). */
export function xattrOfFd(fd: number, name: string): Uint8Array | undefined {
  return getxattr(fdPath(fd), name);
}

const same = (a: FileStat, b: FileStat) => a.id === b.id && (a.mode & S_IFMT) === (b.mode & S_IFMT);

/** One entry met by {@link walkTree}. */
export interface TreeEntry {
  /** Path from the root, "/"-separated, without a leading slash. */
  path: string;
  /** Its parent directory, held open for the length of the visit. */
  parentFd: number;
  name: string;
  stat: FileStat;
  /** Another mount (not descended into when the walk keeps to one mount). */
  otherMount: boolean;
}

/**
 * Opens a regular file listed as `entry` for reading, with the extended
 * attributes `xattrs` it has, or undefined when the name no longer holds
 * that same regular file (swapped since the listing). The O_PATH open
 * neither follows a symlink nor opens a device or fifo; the reopen through
 * /proc/self/fd then reads exactly the object checked.
 */
export function openListedFile(
  entry: TreeEntry,
  xattrs: readonly string[] = [],
): { file: Deno.FsFile; xattrs: Record<string, Uint8Array> } | undefined {
  const pathFd = openAt(entry.parentFd, entry.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (pathFd < 0) return undefined;
  try {
    const now = statFd(pathFd, entry.path);
    if ((now.mode & S_IFMT) !== S_IFREG || !same(now, entry.stat)) return undefined;
    const found: Record<string, Uint8Array> = {};
    for (const name of xattrs) {
      const value = xattrOfFd(pathFd, name);
      if (value) found[name] = value;
    }
    return { file: Deno.openSync(fdPath(pathFd), { read: true }), xattrs: found };
  } finally {
    closeFd(pathFd);
  }
}

/** The target of the symlink listed as `entry`, read relative to its parent's descriptor. */
export function readListedLink(entry: TreeEntry): string | undefined {
  const target = readLinkAt(entry.parentFd, entry.name);
  return typeof target === "number" ? undefined : new TextDecoder().decode(target);
}

/**
 * Visits every entry under the directory `rootFd` in a stable (sorted)
 * order, parents before children. `visit` returns true to descend into a
 * directory; with `oneMount`, directories of other mounts are visited but
 * never entered. `onDir` sees each directory's held descriptor before its
 * entries (for attributes of the directory itself).
 */
export async function walkTree(
  rootFd: number,
  visit: (entry: TreeEntry) => Promise<boolean>,
  opts: { oneMount?: boolean; onDir?: (fd: number, entry: TreeEntry) => Promise<void> } = {},
): Promise<void> {
  const rootMount = statFd(rootFd, "/").mountId;
  const walk = async (dirFd: number, rel: string) => {
    // Listed through the held descriptor: the very directory checked.
    const names = [...Deno.readDirSync(fdPath(dirFd))].map((e) => e.name).sort();
    for (const name of names) {
      const stat = statx(dirFd, name, AT_SYMLINK_NOFOLLOW);
      if (typeof stat === "number") {
        if (stat === -ENOENT) continue; // removed since the listing
        throw new ContainerError("stat", rel ? `${rel}/${name}` : name, -stat);
      }
      const entry: TreeEntry = {
        path: rel ? `${rel}/${name}` : name,
        parentFd: dirFd,
        name,
        stat,
        otherMount: stat.mountId !== rootMount,
      };
      const descend = await visit(entry);
      if (!descend || (stat.mode & S_IFMT) !== S_IFDIR) continue;
      if (opts.oneMount && entry.otherMount) continue;
      const fd = openAt(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) {
        // Swapped for a symlink or a file, or removed, since the listing: not entered.
        if (fd === -ELOOP || fd === -ENOTDIR || fd === -ENOENT) continue;
        throw new ContainerError("open", entry.path, -fd);
      }
      try {
        const now = statFd(fd, entry.path);
        // Another directory moved in since the stat (or a mount): not the one listed.
        if (!same(now, stat) || (opts.oneMount && now.mountId !== rootMount)) continue;
        await opts.onDir?.(fd, entry);
        await walk(fd, entry.path);
      } finally {
        closeFd(fd);
      }
    }
  };
  await walk(rootFd, "");
}
