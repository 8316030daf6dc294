/**
 * Writing a directory tree as a tar stream (ustar, PAX for long names and
 * large sizes): `export` of a container's files, `save` of image layers.
 * With `whiteouts`, overlayfs's marks are turned back into OCI ones (a 0/0
 * character device into .wh.NAME, an opaque directory into .wh..wh..opq).
 * @module
 */

import { closeFd } from "../../ffi/libc.ts";
import {
  type FileStat,
  openListedFile,
  openRoot,
  readListedLink,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type TreeEntry,
  walkTree,
  xattrOfFd,
} from "../fs/tree.ts";
import { ContainerError } from "../errors.ts";

const encoder = new TextEncoder();

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, "0") + "\0";
}

function header(
  name: string,
  type: string,
  size: number,
  info: FileStat,
  linkname = "",
  mode = info.mode & 0o7777,
): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, text: string) =>
    h.set(encoder.encode(text).subarray(0, Math.min(text.length, 512 - at)), at);
  put(0, name.slice(0, 100));
  put(100, octal(mode, 8));
  put(108, octal(info.uid, 8));
  put(116, octal(info.gid, 8));
  put(124, octal(Math.min(size, 0o77777777777), 12));
  put(136, octal(Math.max(0, info.mtime), 12));
  put(148, "        ");
  put(156, type);
  put(157, linkname.slice(0, 100));
  put(257, "ustar\0");
  put(263, "00");
  put(329, octal(info.rdevMajor, 8));
  put(337, octal(info.rdevMinor, 8));
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** PAX records "LEN key=value\\n"; LEN counts bytes, itself included; values may be binary. */
function pax(records: Record<string, string | Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [k, v] of Object.entries(records)) {
    const key = encoder.encode(` ${k}=`);
    const value = typeof v === "string" ? encoder.encode(v) : v;
    const rest = key.length + value.length + 1;
    let len = rest + 1;
    while (String(len).length + rest !== len) len = String(len).length + rest;
    parts.push(encoder.encode(String(len)), key, value, encoder.encode("\n"));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The xattrs a layer must keep: file capabilities (what ping and the like need). */
const KEPT_XATTRS = ["security.capability"];

const pad = (n: number) => new Uint8Array((512 - (n % 512)) % 512);

/**
 * Writes the tree at `root` (a path, or a directory descriptor held by the
 * caller) as a tar to `write`, in a stable (sorted) order. The tree is read
 * through lib/fs/tree.ts, by descriptors: a tree that changes meanwhile (a
 * running container's) cannot lead the walk outside it. With `oneMount`,
 * other file systems mounted inside (a container's /proc) are empty
 * directories.
 */
export async function writeTree(
  root: string | number,
  write: (chunk: Uint8Array) => Promise<void>,
  opts: { whiteouts?: boolean; oneMount?: boolean } = {},
): Promise<void> {
  const links = new Map<string, string>();
  const entry = async (
    name: string,
    type: string,
    info: FileStat,
    data?: Uint8Array,
    linkname = "",
    size = data?.length ?? 0,
    xattrs: Record<string, Uint8Array> = {},
    mode?: number,
  ) => {
    const records: Record<string, string | Uint8Array> = {};
    if (name.length > 100 || /[^\x20-\x7e]/.test(name)) records.path = name;
    if (linkname.length > 100 || /[^\x20-\x7e]/.test(linkname)) records.linkpath = linkname;
    if (size > 0o77777777777) records.size = String(size);
    for (const [k, v] of Object.entries(xattrs)) records[`SCHILY.xattr.${k}`] = v;
    if (Object.keys(records).length) {
      const body = pax(records);
      await write(header("PaxHeader", "x", body.length, info));
      await write(body);
      await write(pad(body.length));
    }
    await write(header(name, type, size, info, linkname, mode));
    if (data) {
      await write(data);
      await write(pad(data.length));
    }
  };
  // A file's bytes in pieces, exactly the size its header gave: a file that
  // a running container changes meanwhile is cut or zero-filled to it.
  const fileEntry = async (e: TreeEntry) => {
    const opened = openListedFile(e, KEPT_XATTRS);
    if (!opened) return; // no longer the regular file listed: left out
    const { file, xattrs } = opened;
    try {
      const info = e.stat;
      const size = info.size;
      await entry(e.path, "0", info, undefined, "", size, xattrs);
      const buf = new Uint8Array(1 << 20);
      let left = size;
      while (left > 0) {
        const n = file.readSync(buf.subarray(0, Math.min(buf.length, left)));
        if (n === null || n === 0) break;
        await write(buf.slice(0, n));
        left -= n;
      }
      for (; left > 0; left -= Math.min(left, buf.length)) {
        await write(new Uint8Array(Math.min(left, buf.length)));
      }
      await write(pad(size));
    } finally {
      file.close();
    }
  };
  const visit = async (e: TreeEntry): Promise<boolean> => {
    const info = e.stat;
    const type = info.mode & S_IFMT;
    if (opts.whiteouts && type === S_IFCHR && info.rdevMajor === 0 && info.rdevMinor === 0) {
      const slash = e.path.lastIndexOf("/");
      await entry(
        `${e.path.slice(0, slash + 1)}.wh.${e.name}`,
        "0",
        info,
        new Uint8Array(0),
        "",
        0,
        {},
        0o644,
      );
      return false;
    }
    if (type !== S_IFDIR && info.nlink > 1) {
      const first = links.get(info.id);
      if (first !== undefined) {
        await entry(e.path, "1", info, undefined, first);
        return false;
      }
      links.set(info.id, e.path);
    }
    if (type === S_IFDIR) {
      await entry(`${e.path}/`, "5", info);
      return true;
    }
    if (type === S_IFLNK) {
      const target = readListedLink(e);
      if (target !== undefined) await entry(e.path, "2", info, undefined, target);
    } else if (type === S_IFREG) await fileEntry(e);
    else if (type === S_IFCHR) await entry(e.path, "3", info);
    else if (type === S_IFBLK) await entry(e.path, "4", info);
    else if (type === S_IFIFO) await entry(e.path, "6", info);
    return false;
  };
  const onDir = opts.whiteouts
    ? async (fd: number, e: TreeEntry) => {
      const opaque = xattrOfFd(fd, "trusted.overlay.opaque");
      if (opaque && new TextDecoder().decode(opaque) === "y") {
        await entry(`${e.path}/.wh..wh..opq`, "0", e.stat, new Uint8Array(0), "", 0, {}, 0o644);
      }
    }
    : undefined;
  const rootFd = typeof root === "number" ? root : openRoot(root);
  try {
    await walkTree(rootFd, visit, { oneMount: opts.oneMount, onDir });
  } finally {
    if (typeof root !== "number") closeFd(rootFd);
  }
  await write(new Uint8Array(1024));
}

/** One entry of {@link writeFixed}: a directory (name ends in "/"), bytes, or a file's content. */
export interface FixedEntry {
  name: string;
  data?: Uint8Array;
  /** A file whose content is the entry's (read as it is written). */
  path?: string;
}

/**
 * Writes `entries` in the order given as a tar whose owners (0:0), modes
 * (0644, 0755 for directories) and times (the epoch) are fixed: the same
 * entries give the same bytes, on any machine, at any time (`save`).
 */
export async function writeFixed(
  entries: FixedEntry[],
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  const fixed = (mode: number): FileStat => ({
    mode,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    nlink: 1,
    id: "",
    rdevMajor: 0,
    rdevMinor: 0,
    mountId: 0n,
  });
  for (const e of entries) {
    if (e.name.endsWith("/")) {
      await write(header(e.name, "5", 0, fixed(0o755)));
      continue;
    }
    if (e.data) {
      await write(header(e.name, "0", e.data.length, fixed(0o644)));
      await write(e.data);
      await write(pad(e.data.length));
      continue;
    }
    const file = await Deno.open(e.path!);
    try {
      const size = (await file.stat()).size;
      await write(header(e.name, "0", size, fixed(0o644)));
      let left = size;
      const buf = new Uint8Array(1 << 20);
      while (left > 0) {
        const n = await file.read(buf.subarray(0, Math.min(buf.length, left)));
        if (n === null) {
          throw new ContainerError("write tar of", e.path, undefined, "the file shrank meanwhile");
        }
        await write(buf.slice(0, n));
        left -= n;
      }
      await write(pad(size));
    } finally {
      file.close();
    }
  }
  await write(new Uint8Array(1024));
}
