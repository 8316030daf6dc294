/**
 * Writing a directory tree as a tar stream (ustar, PAX for long names and
 * large sizes): `export` of a container's files, `save` of image layers.
 * With `whiteouts`, overlayfs's marks are turned back into OCI ones (a 0/0
 * character device into .wh.NAME, an opaque directory into .wh..wh..opq).
 * @module
 */

import { lgetxattr } from "../../ffi/libc.ts";

const encoder = new TextEncoder();

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, "0") + "\0";
}

function header(
  name: string,
  type: string,
  size: number,
  info: Deno.FileInfo,
  linkname = "",
): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, text: string) =>
    h.set(encoder.encode(text).subarray(0, Math.min(text.length, 512 - at)), at);
  put(0, name.slice(0, 100));
  put(100, octal((info.mode ?? 0o644) & 0o7777, 8));
  put(108, octal(info.uid ?? 0, 8));
  put(116, octal(info.gid ?? 0, 8));
  put(124, octal(Math.min(size, 0o77777777777), 12));
  put(136, octal(Math.floor((info.mtime?.getTime() ?? 0) / 1000), 12));
  put(148, "        ");
  put(156, type);
  put(157, linkname.slice(0, 100));
  put(257, "ustar\0");
  put(263, "00");
  const rdev = info.rdev ?? 0;
  put(329, octal((rdev >> 8) & 0xfff, 8));
  put(337, octal((rdev & 0xff) | ((rdev >> 12) & ~0xff), 8));
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

/** Writes `root` as a tar to `write`, in a stable (sorted) order. */
export async function writeTree(
  root: string,
  write: (chunk: Uint8Array) => Promise<void>,
  opts: { whiteouts?: boolean; sameDevice?: boolean } = {},
): Promise<void> {
  // stat of "root/.": /proc/PID/root is a magic link whose own lstat is /proc's.
  const rootDev = Deno.statSync(`${root}/.`).dev;
  const links = new Map<string, string>();
  const entry = async (
    name: string,
    type: string,
    info: Deno.FileInfo,
    data?: Uint8Array,
    linkname = "",
    size = data?.length ?? 0,
    xattrs: Record<string, Uint8Array> = {},
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
    await write(header(name, type, size, info, linkname));
    if (data) {
      await write(data);
      await write(pad(data.length));
    }
  };
  // A file's bytes in pieces, exactly the size its header gave: a file that
  // a running container changes meanwhile is cut or zero-filled to it.
  const fileEntry = async (name: string, path: string, info: Deno.FileInfo) => {
    const size = info.size;
    const xattrs: Record<string, Uint8Array> = {};
    for (const k of KEPT_XATTRS) {
      const v = lgetxattr(path, k);
      if (v) xattrs[k] = v;
    }
    await entry(name, "0", info, undefined, "", size, xattrs);
    const file = Deno.openSync(path);
    try {
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
    } finally {
      file.close();
    }
    await write(pad(size));
  };
  const walk = async (dir: string, rel: string) => {
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    for (const name of names) {
      const path = `${dir}/${name}`;
      const relPath = rel ? `${rel}/${name}` : name;
      const info = Deno.lstatSync(path);
      if (opts.whiteouts && info.isCharDevice && info.rdev === 0) {
        await entry(
          rel ? `${rel}/.wh.${name}` : `.wh.${name}`,
          "0",
          { ...info, mode: 0o644 },
          new Uint8Array(0),
        );
        continue;
      }
      const key = `${info.dev}:${info.ino}`;
      if (!info.isDirectory && (info.nlink ?? 1) > 1 && links.has(key)) {
        await entry(relPath, "1", info, undefined, links.get(key));
        continue;
      }
      if ((info.nlink ?? 1) > 1) links.set(key, relPath);
      if (info.isDirectory) {
        await entry(`${relPath}/`, "5", info);
        // Another file system mounted here (a container's /proc): an empty directory.
        if (opts.sameDevice && info.dev !== rootDev) continue;
        const opaque = opts.whiteouts ? lgetxattr(path, "trusted.overlay.opaque") : undefined;
        if (opaque && new TextDecoder().decode(opaque) === "y") {
          await entry(`${relPath}/.wh..wh..opq`, "0", { ...info, mode: 0o644 }, new Uint8Array(0));
        }
        await walk(path, relPath);
      } else if (info.isSymlink) {
        await entry(relPath, "2", info, undefined, Deno.readLinkSync(path));
      } else if (info.isFile) await fileEntry(relPath, path, info);
      else if (info.isCharDevice) await entry(relPath, "3", info);
      else if (info.isBlockDevice) await entry(relPath, "4", info);
      else if (info.isFifo) await entry(relPath, "6", info);
    }
  };
  await walk(root, "");
  await write(new Uint8Array(1024));
}
