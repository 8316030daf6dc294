/**
 * Copying files between the host and a container's root (`cp`), without a
 * container path ever leading onto the host. The root is held as a
 * descriptor; a container path is looked up with openat2 RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS (symlinks and ".." resolve inside the root, as the
 * container would see them), and everything below it by descriptor:
 *
 * - out: the tree is read by lib/fs/tree.ts (no symlink followed, no device
 *   or fifo opened); symlinks are copied as symlinks, devices, fifos and
 *   sockets are left out.
 * - in: each name is created relative to its parent's descriptor with
 *   O_NOFOLLOW, new files with O_EXCL; an existing file is overwritten only
 *   once it is checked to be a regular file, through the very descriptor
 *   checked. A name the container swaps meanwhile makes the copy fail, never
 *   write elsewhere. Copied files belong to the container's root.
 *
 * Host paths are the caller's own and are used as given.
 * @module
 */

import {
  closeFd,
  fchmod,
  fchown,
  mkdirAt,
  openAt,
  openAt2,
  symlinkAt,
  writeAll,
} from "../../ffi/libc.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import {
  fdPath,
  type FileStat,
  openListedFile,
  readListedLink,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  statFd,
  type TreeEntry,
  walkTree,
} from "./tree.ts";

const O_WRONLY = 1;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const O_DIRECTORY = 0o200000;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_IN_ROOT = 0x10;
const ENOENT = 2;
const EEXIST = 17;

/** A container path split into its directory and last name ("" for the root itself). */
function split(path: string): { dir: string; name: string } {
  const clean = path.replace(/\/+$/, "");
  const at = clean.lastIndexOf("/");
  return { dir: at <= 0 ? "/" : clean.slice(0, at), name: clean.slice(at + 1) };
}

/** Looks `path` up inside the root `rootFd`; an O_PATH descriptor or -errno. */
export function resolveInRoot(rootFd: number, path: string, flags = 0): number {
  return openAt2(
    rootFd,
    path || "/",
    O_PATH | O_CLOEXEC | flags,
    0,
    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  );
}

function check(r: number, op: string, path: string): number {
  if (r < 0) throw new ContainerError(op, path, -r);
  return r;
}

// ---- out ----------------------------------------------------------------

function copyEntryOut(entry: TreeEntry, hostPath: string): boolean {
  const type = entry.stat.mode & S_IFMT;
  const mode = entry.stat.mode & 0o7777;
  if (type === S_IFDIR) {
    try {
      Deno.mkdirSync(hostPath, { mode: 0o700 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    Deno.chmodSync(hostPath, mode);
    return true;
  }
  if (type === S_IFLNK) {
    const target = readListedLink(entry);
    if (target !== undefined) Deno.symlinkSync(target, hostPath);
    return false;
  }
  if (type !== S_IFREG) return false; // devices, fifos, sockets: not data
  const opened = openListedFile(entry);
  if (!opened) return false; // swapped since the listing
  try {
    using out = Deno.openSync(hostPath, { write: true, create: true, truncate: true, mode });
    const buf = new Uint8Array(1 << 16);
    for (;;) {
      const n = opened.file.readSync(buf);
      if (n === null || n === 0) break;
      let done = 0;
      while (done < n) done += out.writeSync(buf.subarray(done, n));
    }
    Deno.chmodSync(hostPath, mode);
  } finally {
    opened.file.close();
  }
  return false;
}

/** Where a copy of `name` goes on the host: into `dest` when it is a directory. */
function destPath(dest: string, name: string, contents: boolean): string {
  try {
    if (!contents && Deno.statSync(dest).isDirectory) return `${dest}/${name}`;
  } catch { /* a new name */ }
  return dest;
}

/** A regular file reached through a followed link: read through its checked descriptor. */
function copyFollowedFile(fd: number, stat: FileStat, hostPath: string): void {
  using from = Deno.openSync(fdPath(fd), { read: true });
  const mode = stat.mode & 0o7777;
  using out = Deno.openSync(hostPath, { write: true, create: true, truncate: true, mode });
  const buf = new Uint8Array(1 << 16);
  for (;;) {
    const n = from.readSync(buf);
    if (n === null || n === 0) break;
    let done = 0;
    while (done < n) done += out.writeSync(buf.subarray(done, n));
  }
  Deno.chmodSync(hostPath, mode);
}

/**
 * Copies the container path `src` (in the root `rootFd`) to the host path
 * `dest`, as docker cp: into `dest` when it is a directory, else as `dest`
 * (whose directory must exist); `SRC/.` copies a directory's contents.
 */
export async function copyOut(
  rootFd: number,
  src: string,
  dest: string,
  follow = false,
): Promise<void> {
  const contents = /\/\.$/.test(src);
  const { dir, name } = split(contents ? src.slice(0, -2) : src);
  const parentFd = check(resolveInRoot(rootFd, dir, O_DIRECTORY), "cp: find", dir);
  try {
    const isRoot = name === "";
    let fd = isRoot
      ? check(resolveInRoot(rootFd, "/", O_DIRECTORY), "cp: find", src)
      : check(openAt(parentFd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), "cp: find", src);
    try {
      let stat = statFd(fd, src);
      if (follow && (stat.mode & S_IFMT) === S_IFLNK) {
        // -L: the link followed inside the root, then copied from that very descriptor.
        closeFd(fd);
        fd = -1;
        fd = check(resolveInRoot(rootFd, `${dir}/${name}`), "cp: find", src);
        stat = statFd(fd, src);
        if ((stat.mode & S_IFMT) === S_IFREG) {
          copyFollowedFile(fd, stat, destPath(dest, name, contents));
          return;
        }
        if ((stat.mode & S_IFMT) !== S_IFDIR) {
          throw new ContainerError(
            "cp: read",
            src,
            undefined,
            "the link leads to neither a file nor a directory",
          );
        }
      }
      let destIsDir = false;
      try {
        destIsDir = Deno.statSync(dest).isDirectory;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        if (dest.endsWith("/")) throw new ContainerError("cp: write", dest, ENOENT);
        const trimmed = dest.replace(/\/+$/, "");
        const parent = trimmed.includes("/") ? trimmed.replace(/\/[^/]*$/, "") || "/" : ".";
        if (!Deno.statSync(parent).isDirectory) throw new ContainerError("cp: write", parent, 20);
      }
      const target = destIsDir && !contents ? `${dest}/${isRoot ? "root" : name}` : dest;
      if ((stat.mode & S_IFMT) !== S_IFDIR) {
        if (contents) throw new ContainerError("cp: find", src, 20);
        copyEntryOut({ path: name, parentFd, name, stat, otherMount: false }, target);
        return;
      }
      copyEntryOut(
        { path: name, parentFd, name, stat: { ...stat, mode: stat.mode }, otherMount: false },
        target,
      );
      await walkTree(
        fd,
        (entry) => Promise.resolve(copyEntryOut(entry, `${target}/${entry.path}`)),
      );
    } finally {
      closeFd(fd);
    }
  } catch (e) {
    throw fromDenoError("cp: write", dest, e);
  } finally {
    closeFd(parentFd);
  }
}

// ---- in -----------------------------------------------------------------

/** Who owns what cp writes: the container's root, as the host sees it. */
export interface Owner {
  uid: number;
  gid: number;
}

function own(fd: number, mode: number, owner: Owner, what: string): void {
  check(fchown(fd, owner.uid, owner.gid), "cp: chown", what);
  check(fchmod(fd, mode), "cp: chmod", what);
}

/** The existing entry `name` in `dirFd`, not followed: its descriptor and stat, or undefined. */
function existing(
  dirFd: number,
  name: string,
  what: string,
): { fd: number; stat: FileStat } | undefined {
  const fd = openAt(dirFd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd === -ENOENT) return undefined;
  check(fd, "cp: open", what);
  return { fd, stat: statFd(fd, what) };
}

function writeFileIn(
  dirFd: number,
  name: string,
  host: string,
  info: Deno.FileInfo,
  owner: Owner,
  what: string,
): void {
  const mode = (info.mode ?? 0o644) & 0o7777;
  const there = existing(dirFd, name, what);
  let fd: number;
  if (there) {
    try {
      if ((there.stat.mode & S_IFMT) !== S_IFREG) {
        throw new ContainerError("cp: write", what, undefined, "exists and is not a regular file");
      }
      // The very file checked, reopened for writing: no name is looked up again.
      fd = check(openAt(-100, fdPath(there.fd), O_WRONLY | O_TRUNC | O_CLOEXEC), "cp: write", what);
    } finally {
      closeFd(there.fd);
    }
  } else {
    fd = check(
      openAt(dirFd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600),
      "cp: create",
      what,
    );
  }
  try {
    using src = Deno.openSync(host, { read: true });
    const buf = new Uint8Array(1 << 16);
    for (;;) {
      const n = src.readSync(buf);
      if (n === null || n === 0) break;
      writeAll(fd, buf.subarray(0, n));
    }
    own(fd, mode, owner, what);
  } finally {
    closeFd(fd);
  }
}

function copyEntryIn(
  dirFd: number,
  name: string,
  host: string,
  owner: Owner,
  what: string,
  follow = false,
): void {
  // -L: the host's link followed, for SRC itself only.
  const info = follow ? Deno.statSync(host) : Deno.lstatSync(host);
  if (info.isSymlink) {
    const r = symlinkAt(Deno.readLinkSync(host), dirFd, name);
    if (r === -EEXIST) throw new ContainerError("cp: create", what, undefined, "it exists already");
    check(r, "cp: create", what);
    return;
  }
  if (info.isFile) return writeFileIn(dirFd, name, host, info, owner, what);
  if (!info.isDirectory) return; // devices, fifos, sockets: not data
  const r = mkdirAt(dirFd, name, 0o700);
  if (r < 0 && r !== -EEXIST) check(r, "cp: mkdir", what);
  const sub = check(
    openAt(dirFd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
    "cp: open",
    what,
  );
  try {
    if (r === 0) {
      // fchmod and fchown need a real descriptor; this one names the directory just made.
      const real = check(openAt(-100, fdPath(sub), O_DIRECTORY | O_CLOEXEC), "cp: open", what);
      try {
        own(real, (info.mode ?? 0o755) & 0o7777, owner, what);
      } finally {
        closeFd(real);
      }
    }
    for (const e of [...Deno.readDirSync(host)].sort((a, b) => a.name.localeCompare(b.name))) {
      copyEntryIn(sub, e.name, `${host}/${e.name}`, owner, `${what}/${e.name}`);
    }
  } finally {
    closeFd(sub);
  }
}

/**
 * Copies the host path `src` to the container path `dest` (in the root
 * `rootFd`), as docker cp: into `dest` when it is a directory, else as
 * `dest`, whose directory must exist; `SRC/.` copies a directory's contents.
 */
export function copyIn(
  rootFd: number,
  src: string,
  dest: string,
  owner: Owner,
  follow = false,
): void {
  const contents = /\/\.$/.test(src);
  const host = contents ? src.slice(0, -2) : src;
  let info: Deno.FileInfo;
  try {
    info = follow ? Deno.statSync(host) : Deno.lstatSync(host);
  } catch (e) {
    throw fromDenoError("cp: read", src, e);
  }
  const srcName = host.replace(/\/+$/, "").split("/").pop() || "root";
  const found = resolveInRoot(rootFd, dest);
  if (found >= 0) {
    const isDir = (statFd(found, dest).mode & S_IFMT) === S_IFDIR;
    if (isDir) {
      // dest resolved inside the root: its descriptor is the parent of what is made.
      try {
        if (contents && info.isDirectory) {
          for (const e of [...Deno.readDirSync(host)]) {
            copyEntryIn(found, e.name, `${host}/${e.name}`, owner, `${dest}/${e.name}`);
          }
        } else copyEntryIn(found, srcName, host, owner, `${dest}/${srcName}`, follow);
      } finally {
        closeFd(found);
      }
      return;
    }
    closeFd(found);
    if (info.isDirectory) {
      throw new ContainerError("cp", dest, undefined, "cannot copy a directory over a file");
    }
  } else if (found !== -ENOENT) check(found, "cp: find", dest);
  else if (dest.endsWith("/")) throw new ContainerError("cp: find", dest, ENOENT);
  const { dir, name } = split(dest);
  if (!name) throw new ContainerError("cp", dest, undefined, "cannot replace the container's root");
  const parent = check(resolveInRoot(rootFd, dir, O_DIRECTORY), "cp: find", dir);
  try {
    // A new name: SRC and SRC/. alike become it.
    copyEntryIn(parent, name, host, owner, dest, follow);
  } finally {
    closeFd(parent);
  }
}
