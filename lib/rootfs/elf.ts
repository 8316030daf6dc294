/**
 * Just enough of an ELF reader to copy a dynamically linked program into a
 * root filesystem: its interpreter (PT_INTERP), the libraries it names
 * (DT_NEEDED) and where it says to look for them (DT_RUNPATH/DT_RPATH).
 * 64-bit little-endian only, which is what x86_64 and aarch64 Linux run.
 * @module
 */

import { ContainerError, fromDenoError } from "../errors.ts";

/** What an ELF file needs to run. */
export interface ElfDeps {
  interpreter?: string;
  needed: string[];
  runpath: string[];
  /** No interpreter: a static executable that runs on its own. */
  isStatic: boolean;
}

const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_LOAD = 1;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

/** Reads the interpreter, needed libraries and run paths of the ELF file at `path`. */
export function readElfDeps(path: string): ElfDeps {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw fromDenoError("read ELF", path, e);
  }
  try {
    return parseElf(bytes, path);
  } catch (e) {
    // DataView throws RangeError when an offset points past the end of the file.
    if (e instanceof RangeError) {
      throw new ContainerError("read ELF", path, undefined, "truncated or corrupt ELF file");
    }
    throw e;
  }
}

function parseElf(bytes: Uint8Array, path: string): ElfDeps {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isElf = bytes.length > 64 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c &&
    bytes[3] === 0x46;
  if (!isElf) throw new ContainerError("read ELF", path, undefined, "not an ELF file");
  if (bytes[4] !== 2 || bytes[5] !== 1) {
    throw new ContainerError(
      "read ELF",
      path,
      undefined,
      "only 64-bit little-endian ELF is supported",
    );
  }
  const phoff = Number(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  const cstr = (at: number) => {
    let end = at;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(at, end));
  };
  let interpreter: string | undefined;
  let dynamic: { offset: number; size: number } | undefined;
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = v.getUint32(ph, true);
    const offset = v.getBigUint64(ph + 8, true);
    const vaddr = v.getBigUint64(ph + 16, true);
    const filesz = v.getBigUint64(ph + 32, true);
    if (type === PT_INTERP) interpreter = cstr(Number(offset));
    else if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(filesz) };
    else if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
  }
  const needed: string[] = [];
  const runpath: string[] = [];
  if (dynamic) {
    const entries: [bigint, bigint][] = [];
    for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
      const tag = v.getBigInt64(at, true);
      if (tag === 0n) break;
      entries.push([tag, v.getBigUint64(at + 8, true)]);
    }
    // DT_STRTAB is an address: map it to a file offset through the PT_LOADs.
    const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
    const seg = loads.find((l) =>
      strtabAddr !== undefined && strtabAddr >= l.vaddr && strtabAddr < l.vaddr + l.filesz
    );
    if (strtabAddr !== undefined && seg) {
      const strtab = Number(strtabAddr - seg.vaddr + seg.offset);
      for (const [tag, val] of entries) {
        if (tag === DT_NEEDED) needed.push(cstr(strtab + Number(val)));
        if (tag === DT_RUNPATH || tag === DT_RPATH) {
          runpath.push(...cstr(strtab + Number(val)).split(":").filter(Boolean));
        }
      }
    }
  }
  return {
    interpreter,
    needed,
    runpath,
    isStatic: interpreter === undefined && needed.length === 0,
  };
}

function readLines(path: string): string[] {
  try {
    return Deno.readTextFileSync(path).split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(
      Boolean,
    );
  } catch {
    return [];
  }
}

/** The dynamic linker's search directories: /etc/ld.so.conf (and its includes), then the defaults. */
export function librarySearchPath(): string[] {
  const dirs: string[] = [];
  const visit = (file: string) => {
    for (const line of readLines(file)) {
      if (line.startsWith("include ")) {
        const pattern = line.slice(8).trim();
        const dir = pattern.slice(0, pattern.lastIndexOf("/"));
        const suffix = pattern.endsWith("*.conf") ? ".conf" : "";
        try {
          for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
            if (e.name.endsWith(suffix)) visit(`${dir}/${e.name}`);
          }
        } catch { /* no such directory */ }
      } else dirs.push(line);
    }
  };
  visit("/etc/ld.so.conf");
  const arch = Deno.build.arch === "x86_64" ? "x86_64-linux-gnu" : "aarch64-linux-gnu";
  dirs.push(`/lib/${arch}`, `/usr/lib/${arch}`, "/lib64", "/usr/lib64", "/lib", "/usr/lib");
  return [...new Set(dirs)];
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every shared library `binaries` load, transitively, as absolute host
 * paths (the names they are asked for by, e.g. .../libc.so.6), plus their
 * interpreters. A library that cannot be found is an error naming it.
 */
export function resolveSharedLibraries(binaries: readonly string[]): string[] {
  const search = librarySearchPath();
  const found = new Set<string>();
  const queue = [...binaries];
  const seen = new Set<string>();
  while (queue.length) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const deps = readElfDeps(file);
    if (deps.interpreter) found.add(deps.interpreter);
    const origin = file.slice(0, file.lastIndexOf("/"));
    const dirs = [
      ...deps.runpath.map((d) => d.replace(/\$\{ORIGIN\}|\$ORIGIN/g, origin)),
      ...search,
    ];
    for (const lib of deps.needed) {
      const path = lib.includes("/") ? lib : dirs.map((d) => `${d}/${lib}`).find(exists);
      if (!path) {
        throw new ContainerError(
          "find library",
          lib,
          2,
          `needed by ${file}, not found in ${dirs.join(":")}`,
        );
      }
      if (!found.has(path)) {
        found.add(path);
        queue.push(path);
      }
    }
  }
  return [...found];
}
