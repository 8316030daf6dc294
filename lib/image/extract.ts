/**
 * Unpacking one layer into its own directory, in the form overlayfs stacks:
 * an OCI whiteout (.wh.NAME) becomes a 0/0 character device, an opaque
 * marker (.wh..wh..opq) the trusted.overlay.opaque xattr on its directory.
 * Ownership, modes, mtimes, hard links, symlinks, device nodes and xattrs
 * are kept. An entry that would land outside the layer (an absolute or ".."
 * path, or a path through a symlink) is refused with its name.
 * @module
 */

import { lchown, lsetxattr, lutimes, mknod, SysError } from "../../ffi/libc.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { isHole, readTar, type TarEntry } from "./tar.ts";

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** The entry's path relative to the layer root, or a refusal naming it. */
export function safeRelative(name: string, what: string): string {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (name.startsWith("/") || parts.includes("..")) {
    throw new ContainerError(
      "extract layer",
      what,
      undefined,
      `entry "${name}" would land outside the layer root`,
    );
  }
  return parts.join("/");
}

function lexists(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Refuses a path whose parent directories include a symlink (a write through it). */
function checkParents(root: string, rel: string, name: string, what: string): void {
  const parts = rel.split("/");
  let at = root;
  for (const part of parts.slice(0, -1)) {
    at = `${at}/${part}`;
    const info = lexists(at);
    if (info?.isSymlink) {
      throw new ContainerError(
        "extract layer",
        what,
        undefined,
        `entry "${name}" would be written through the symlink ${part}`,
      );
    }
    if (!info) Deno.mkdirSync(at, { mode: 0o755 });
  }
}

function remove(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch { /* nothing there */ }
}

function own(path: string, e: TarEntry): void {
  try {
    lchown(path, e.uid, e.gid);
  } catch { /* rootless: ownership stays the caller's */ }
  for (const [name, value] of Object.entries(e.xattrs)) {
    // overlayfs's own marks (opaque, redirect, metacopy) come from whiteouts, never from a layer.
    if (name.startsWith("trusted.overlay.")) continue;
    try {
      lsetxattr(path, name, value);
    } catch { /* a filesystem without that namespace */ }
  }
}

/** Writes a file member's bytes as they stream in. */
async function writeFile(path: string, e: TarEntry): Promise<void> {
  const file = Deno.openSync(path, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    for await (const chunk of e.chunks()) {
      // A sparse file's hole stays one: seek past it (the size is set at the end).
      if (isHole(chunk)) {
        file.seekSync(chunk.length, Deno.SeekMode.Current);
        continue;
      }
      // write() may take part of a chunk (a filling disk): the rest must follow or fail.
      for (let done = 0; done < chunk.length;) done += file.writeSync(chunk.subarray(done));
    }
    file.truncateSync(e.size);
  } finally {
    file.close();
  }
}

/** What extracting gave: entries written. */
export interface ExtractReport {
  entries: number;
}

/** Extracts the tar `stream` into `dest` (which must exist and be empty). */
export async function extractLayer(
  stream: ReadableStream<Uint8Array>,
  dest: string,
  what: string,
): Promise<ExtractReport> {
  // Directory modes and times last: a read-only directory must still take its
  // entries, and writing them changes its mtime.
  const dirs = new Map<string, [number, number, number]>();
  let entries = 0;
  for await (const e of readTar(stream, what)) {
    const rel = safeRelative(e.name, what);
    if (!rel) continue; // the root itself
    checkParents(dest, rel, e.name, what);
    const path = `${dest}/${rel}`;
    const base = rel.slice(rel.lastIndexOf("/") + 1);
    const dir = path.slice(0, path.lastIndexOf("/"));
    try {
      if (base === ".wh..wh..opq") {
        lsetxattr(dir, "trusted.overlay.opaque", new TextEncoder().encode("y"));
        continue;
      }
      if (base.startsWith(".wh.")) {
        const hidden = `${dir}/${base.slice(4)}`;
        remove(hidden);
        mknod(hidden, S_IFCHR, 0, 0);
        continue;
      }
      const existing = lexists(path);
      if (existing && !(existing.isDirectory && e.type === "dir")) remove(path);
      switch (e.type) {
        case "dir":
          if (!existing?.isDirectory) Deno.mkdirSync(path, { mode: 0o755 });
          own(path, e);
          dirs.set(path, [e.mode, e.mtime, e.mtimeNsec]);
          break;
        case "file":
          await writeFile(path, e);
          own(path, e);
          Deno.chmodSync(path, e.mode);
          lutimes(path, e.mtime, e.mtimeNsec);
          break;
        case "symlink":
          Deno.symlinkSync(e.linkname, path);
          own(path, e);
          lutimes(path, e.mtime, e.mtimeNsec);
          break;
        case "hardlink": {
          const target = `${dest}/${safeRelative(e.linkname, what)}`;
          checkParents(dest, safeRelative(e.linkname, what), e.linkname, what);
          if (!lexists(target)) {
            throw new ContainerError(
              "extract layer",
              what,
              undefined,
              `hard link "${e.name}" points at "${e.linkname}", which the layer does not hold`,
            );
          }
          Deno.linkSync(target, path);
          break;
        }
        case "char":
        case "block":
        case "fifo":
          mknod(
            path,
            (e.type === "char" ? S_IFCHR : e.type === "block" ? S_IFBLK : S_IFIFO) | e.mode,
            e.devmajor,
            e.devminor,
          );
          own(path, e);
          Deno.chmodSync(path, e.mode); // mknod's mode went through the umask
          break;
      }
      entries++;
    } catch (err) {
      if (err instanceof ContainerError) throw err;
      if (err instanceof SysError) {
        throw new ContainerError(`extract ${e.name} from`, what, err.err);
      }
      throw fromDenoError(`extract ${e.name} from`, what, err);
    }
  }
  for (const [path, [mode, mtime, nsec]] of dirs) {
    try {
      Deno.chmodSync(path, mode);
      lutimes(path, mtime, nsec);
    } catch { /* removed by a later whiteout */ }
  }
  return { entries };
}
