/**
 * What a build's COPY and ADD read and write: the context directory less
 * what .dockerignore excludes, sources matched as docker matches them
 * (globs, directories copied by content), the destination resolved through
 * the image's own symlinks (/bin -> usr/bin stays a link), ownership from
 * --chown (numbers, or names from the image's /etc/passwd and /etc/group),
 * local tar archives unpacked by ADD, and a digest of everything read, the
 * build cache's key.
 * @module
 */

import { createHash } from "node:crypto";
import { ContainerError, fromDenoError } from "../errors.ts";
import { decompressed } from "./compression.ts";
import { normalizePath } from "./dockerfile.ts";
import { extractLayer } from "./extract.ts";

/** A glob (docker's filepath.Match, with ** for any depth) as a regular expression. */
export function globRegex(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      re += ".*";
      i++;
      if (pattern[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) throw new ContainerError("match", pattern, undefined, "unterminated [");
      re += `[${pattern.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) {
      re += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** .dockerignore of `context`: whether a context-relative path is left out. */
export function dockerignore(context: string): (rel: string) => boolean {
  let text = "";
  try {
    text = Deno.readTextFileSync(`${context}/.dockerignore`);
  } catch { /* none */ }
  const rules = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const p = normalizePath(negate ? l.slice(1).trim() : l).slice(1);
      return { negate, re: globRegex(p) };
    });
  if (!rules.length) return () => false;
  return (rel) => {
    // A pattern matches a path or any directory above it; the last matching rule wins.
    const parts = rel.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const r of rules) {
      if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    }
    return excluded;
  };
}

/** One source file system entry a COPY takes. */
interface Source {
  /** Path relative to the source root. */
  rel: string;
  abs: string;
}

/** Every path under `root` (relative, sorted), less what `ignored` leaves out. */
function listTree(root: string, ignored: (rel: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch (e) {
      throw fromDenoError("read build context", dir, e);
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (ignored(r)) continue;
      out.push(r);
      if (e.isDirectory) walk(`${dir}/${e.name}`, r);
    }
  };
  walk(root, "");
  return out;
}

/**
 * The entries `patterns` name under `root` (globs allowed); refused when a
 * pattern names nothing or leaves the root.
 */
export function matchSources(
  root: string,
  patterns: string[],
  ignored: (rel: string) => boolean = () => false,
): Source[] {
  let all: string[] | undefined;
  const out: Source[] = [];
  for (const p of patterns) {
    // "../x" is the context's x, as docker clamps it.
    const rel = normalizePath(p).slice(1);
    if (!/[*?[]/.test(rel)) {
      if (rel && ignored(rel)) {
        throw new ContainerError("COPY", p, undefined, "it is excluded by .dockerignore");
      }
      try {
        Deno.lstatSync(`${root}/${rel}`);
      } catch {
        throw new ContainerError("COPY", p, undefined, "no such file or directory in the context");
      }
      // A symlink on the way must not lead out of the context (to the host's files).
      const real = Deno.realPathSync(`${root}/${rel.slice(0, Math.max(0, rel.lastIndexOf("/")))}`);
      const top = Deno.realPathSync(root);
      if (real !== top && !real.startsWith(`${top}/`)) {
        throw new ContainerError("COPY", p, undefined, "it leads out of the build context");
      }
      out.push({ rel, abs: rel ? `${root}/${rel}` : root });
      continue;
    }
    all ??= listTree(root, ignored);
    const re = globRegex(rel);
    const hits = all.filter((r) => re.test(r));
    if (!hits.length) throw new ContainerError("COPY", p, undefined, "no file matches it");
    out.push(...hits.map((r) => ({ rel: r, abs: `${root}/${r}` })));
  }
  return out;
}

/** sha256 over every path, mode and content the sources hold: COPY's cache key. */
export function sourcesDigest(sources: Source[], ignored: (rel: string) => boolean): string {
  const hash = createHash("sha256");
  const add = (abs: string, rel: string) => {
    const info = Deno.lstatSync(abs);
    hash.update(`${rel}\0${info.mode}\0`);
    if (info.isSymlink) hash.update(Deno.readLinkSync(abs));
    else if (info.isFile) hash.update(Deno.readFileSync(abs));
    else if (info.isDirectory) {
      for (const e of [...Deno.readDirSync(abs)].map((e) => e.name).sort()) {
        const r = rel ? `${rel}/${e}` : e;
        if (!ignored(r)) add(`${abs}/${e}`, r);
      }
    }
    hash.update("\0");
  };
  for (const s of sources) add(s.abs, s.rel);
  return `sha256:${hash.digest("hex")}`;
}

/** Finds `path` in the image made of `layers` (top first): the layer directory holding it. */
function lookup(layers: string[], path: string): { dir: string; info: Deno.FileInfo } | undefined {
  for (const l of layers) {
    const slash = path.lastIndexOf("/");
    try {
      Deno.lstatSync(`${l}${path.slice(0, slash + 1)}.wh.${path.slice(slash + 1)}`);
      return undefined; // deleted in this layer
    } catch { /* not deleted here */ }
    try {
      const info = Deno.lstatSync(`${l}${path}`);
      if (info.isCharDevice && info.rdev === 0) return undefined; // an overlayfs whiteout
      return { dir: l, info };
    } catch { /* not in this layer */ }
  }
  return undefined;
}

/** `path` in the image with every symlink on the way resolved (within the image). */
export function resolveInImage(layers: string[], path: string): string {
  let parts = normalizePath(path).split("/").filter(Boolean);
  let done = "";
  for (let hops = 0; parts.length; hops++) {
    if (hops > 255) throw new ContainerError("resolve", path, undefined, "too many symlinks");
    const next = `${done}/${parts[0]}`;
    const found = lookup(layers, next);
    if (found?.info.isSymlink) {
      const target = Deno.readLinkSync(`${found.dir}${next}`);
      parts = [
        ...normalizePath(target.startsWith("/") ? target : `${done}/${target}`)
          .split("/").filter(Boolean),
        ...parts.slice(1),
      ];
      done = "";
      continue;
    }
    done = next;
    parts = parts.slice(1);
  }
  return done || "/";
}

/** Whether `path` is a directory in the image. */
export function isDirInImage(layers: string[], path: string): boolean {
  return lookup(layers, resolveInImage(layers, path))?.info.isDirectory ?? false;
}

/** --chown's USER[:GROUP] as numbers, names looked up in the image's /etc/passwd and /etc/group. */
export function parseChown(layers: string[], spec: string): { uid: number; gid: number } {
  const [user, group] = spec.split(":");
  const table = (file: string) => {
    const found = lookup(layers, resolveInImage(layers, file));
    if (!found) return [];
    return Deno.readTextFileSync(`${found.dir}${resolveInImage(layers, file)}`).split("\n")
      .map((l) => l.split(":"));
  };
  const id = (name: string, file: string, column: number): number => {
    if (/^\d+$/.test(name)) return Number(name);
    const row = table(file).find((r) => r[0] === name);
    if (!row) {
      throw new ContainerError("chown", spec, undefined, `no ${name} in the image's ${file}`);
    }
    return Number(row[column]);
  };
  const uid = id(user, "/etc/passwd", 2);
  let gid = uid;
  if (group !== undefined) gid = id(group, "/etc/group", 2);
  else if (!/^\d+$/.test(user)) gid = Number(table("/etc/passwd").find((r) => r[0] === user)![3]);
  return { uid, gid };
}

/** Copies `src` (file, link or directory tree) to `dest`, owned by `owner` (docker: root). */
export function copyEntry(
  src: string,
  dest: string,
  owner: { uid: number; gid: number },
  ignored: (rel: string) => boolean = () => false,
  rel = "",
): void {
  const info = Deno.lstatSync(src);
  if (info.isDirectory) {
    try {
      Deno.mkdirSync(dest, { mode: info.mode! & 0o7777 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw fromDenoError("COPY to", dest, e);
    }
    Deno.chmodSync(dest, info.mode! & 0o7777);
    for (const e of [...Deno.readDirSync(src)].map((e) => e.name).sort()) {
      const r = rel ? `${rel}/${e}` : e;
      if (!ignored(r)) copyEntry(`${src}/${e}`, `${dest}/${e}`, owner, ignored, r);
    }
  } else if (info.isSymlink) {
    try {
      Deno.removeSync(dest);
    } catch { /* none */ }
    Deno.symlinkSync(Deno.readLinkSync(src), dest);
  } else if (info.isFile) {
    Deno.copyFileSync(src, dest);
    Deno.chmodSync(dest, info.mode! & 0o7777);
  } else return; // devices, fifos and sockets are not copied (docker refuses them too)
  Deno.chownSync(dest, owner.uid, owner.gid);
  if (!info.isSymlink && info.mtime) Deno.utimeSync(dest, info.mtime, info.mtime);
}

/** Whether `path` is a tar archive ADD unpacks (plain, gzip or zstd). */
export async function isArchive(path: string): Promise<boolean> {
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(512);
    const n = (await file.read(head)) ?? 0;
    if (head[0] === 0x1f && head[1] === 0x8b) return true;
    if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return true;
    return n >= 262 && new TextDecoder().decode(head.subarray(257, 262)) === "ustar";
  } finally {
    file.close();
  }
}

/** Unpacks archive `path` into directory `dest` (ADD). */
export async function unpackArchive(path: string, dest: string): Promise<void> {
  const file = await Deno.open(path);
  await extractLayer(await decompressed(file.readable), dest, path);
}
