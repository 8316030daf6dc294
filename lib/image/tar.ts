/**
 * A streaming tar reader (ustar, with PAX and GNU long names), enough for
 * image layers and rootfs tarballs. Entries come one at a time with their
 * data, so a layer is never held in memory whole.
 * @module
 */

import { ContainerError } from "../errors.ts";

/** One archive member. */
export interface TarEntry {
  name: string;
  /** "file", "dir", "symlink", "hardlink", "char", "block", "fifo". */
  type: "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX SCHILY.xattr.* records. */
  xattrs: Record<string, Uint8Array>;
  /** The member's bytes (files only). */
  data: Uint8Array;
}

const TYPES: Record<string, TarEntry["type"]> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

const decoder = new TextDecoder();

function field(block: Uint8Array, at: number, len: number): string {
  const bytes = block.subarray(at, at + len);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function octal(block: Uint8Array, at: number, len: number): number {
  // GNU base-256 for large values: high bit of the first byte set.
  if (block[at] & 0x80) {
    let n = 0;
    for (let i = at + 1; i < at + len; i++) n = n * 256 + block[i];
    return n;
  }
  const text = field(block, at, len).trim();
  return text ? parseInt(text, 8) : 0;
}

/** PAX records: "LEN key=value\\n" ... */
function paxRecords(data: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = parseInt(decoder.decode(data.subarray(at, space)), 10);
    if (!len) break;
    const record = data.subarray(space + 1, at + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) out.set(decoder.decode(record.subarray(0, eq)), record.slice(eq + 1));
    at += len;
  }
  return out;
}

/** Reads exactly n bytes at a time from a byte stream. */
class Reader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private reader: ReadableStreamDefaultReader<Uint8Array>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }
  async read(n: number): Promise<Uint8Array | null> {
    while (this.buffered < n) {
      const { value, done } = await this.reader.read();
      if (done) return null;
      this.chunks.push(value);
      this.buffered += value.length;
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const head = this.chunks[0];
      const take = Math.min(head.length, n - at);
      out.set(head.subarray(0, take), at);
      at += take;
      if (take === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(take);
    }
    this.buffered -= n;
    return out;
  }
  cancel(): void {
    this.reader.cancel().catch(() => {});
  }
}

/** The entries of a tar stream, in order. `what` names the archive in errors. */
export async function* readTar(
  stream: ReadableStream<Uint8Array>,
  what: string,
): AsyncGenerator<TarEntry> {
  const r = new Reader(stream);
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, Uint8Array>();
  try {
    for (;;) {
      const header = await r.read(512);
      if (!header) return; // archives may end without the two zero blocks
      if (header.every((b) => b === 0)) return;
      const size = octal(header, 124, 12);
      const typeflag = String.fromCharCode(header[156]);
      const padded = Math.ceil(size / 512) * 512;
      const body = padded ? await r.read(padded) : new Uint8Array(0);
      if (!body) {
        throw new ContainerError(
          "read archive",
          what,
          undefined,
          "it ends in the middle of a member",
        );
      }
      const data = body.subarray(0, size);
      if (typeflag === "x") {
        pax = paxRecords(data);
        continue;
      }
      if (typeflag === "g") continue;
      if (typeflag === "L") {
        longName = field(data, 0, data.length);
        continue;
      }
      if (typeflag === "K") {
        longLink = field(data, 0, data.length);
        continue;
      }
      const type = TYPES[typeflag];
      const prefix = decoder.decode(header.subarray(257, 263)).startsWith("ustar")
        ? field(header, 345, 155)
        : "";
      let name = longName ??
        (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
      let linkname = longLink ?? field(header, 157, 100);
      if (pax.has("path")) name = decoder.decode(pax.get("path"));
      if (pax.has("linkpath")) linkname = decoder.decode(pax.get("linkpath"));
      const xattrs: Record<string, Uint8Array> = {};
      for (const [k, v] of pax) if (k.startsWith("SCHILY.xattr.")) xattrs[k.slice(13)] = v;
      const num = (
        key: string,
        fallback: number,
      ) => (pax.has(key) ? Number(decoder.decode(pax.get(key))) : fallback);
      longName = longLink = undefined;
      pax = new Map();
      if (!type) continue; // unknown member kinds carry nothing a rootfs needs
      yield {
        name,
        type,
        mode: octal(header, 100, 8) & 0o7777,
        uid: num("uid", octal(header, 108, 8)),
        gid: num("gid", octal(header, 116, 8)),
        mtime: Math.floor(num("mtime", octal(header, 136, 12))),
        size,
        linkname,
        devmajor: octal(header, 329, 8),
        devminor: octal(header, 337, 8),
        xattrs,
        data: type === "file" ? data : new Uint8Array(0),
      };
    }
  } finally {
    r.cancel();
  }
}
