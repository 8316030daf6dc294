/**
 * A streaming tar reader (ustar, with PAX and GNU long names), enough for
 * image layers and rootfs tarballs. Entries come one at a time and a file's
 * bytes come in the chunks the stream delivers them in, so neither a layer
 * nor one large file in it is ever held in memory whole. PAX values are kept
 * as bytes: xattrs such as security.capability are binary, and decoding
 * them as UTF-8 (what the npm tar readers do) would corrupt them.
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
  /**
   * The member's bytes (files only), chunk by chunk as they arrive. Read
   * them before asking for the next entry; what is left unread is skipped.
   */
  chunks(): AsyncGenerator<Uint8Array>;
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

/** Metadata members are read whole; a huge one is a hostile archive, not a long name. */
const MAX_META = 8 << 20;

const decoder = new TextDecoder();

function field(block: Uint8Array, at: number, len: number): string {
  const bytes = block.subarray(at, at + len);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function octal(block: Uint8Array, at: number, len: number): number {
  // GNU base-256 for large values: high bit of the first byte set.
  if (block[at] & 0x80) {
    let n = block[at] & 0x7f;
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
    if (!(len > 0) || at + len > data.length) break;
    const record = data.subarray(space + 1, at + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) out.set(decoder.decode(record.subarray(0, eq)), record.slice(eq + 1));
    at += len;
  }
  return out;
}

/** Reads a byte stream in exact amounts, without copying what passes through. */
class Reader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private reader: ReadableStreamDefaultReader<Uint8Array>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }

  /** Buffers until `n` bytes are there; false at the end of the stream. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      const { value, done } = await this.reader.read();
      if (done) return false;
      if (value.length) {
        this.chunks.push(value);
        this.buffered += value.length;
      }
    }
    return true;
  }

  /** Exactly `n` bytes in one array (headers, metadata); null at the end. */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.fill(n))) return null;
    const head = this.chunks[0];
    if (head.length >= n) {
      this.take(n);
      return head.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let at = 0;
    for (const piece of this.pieces(n)) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }

  /** Removes `n` buffered bytes (n <= buffered). */
  private take(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const head = this.chunks[0];
      if (head.length <= n) {
        this.chunks.shift();
        n -= head.length;
      } else {
        this.chunks[0] = head.subarray(n);
        n = 0;
      }
    }
  }

  /** Up to `n` buffered bytes, as the chunks hold them, removed from the buffer. */
  private pieces(n: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let left = Math.min(n, this.buffered);
    this.buffered -= left;
    while (left > 0) {
      const head = this.chunks[0];
      if (head.length <= left) {
        out.push(this.chunks.shift()!);
        left -= head.length;
      } else {
        out.push(head.subarray(0, left));
        this.chunks[0] = head.subarray(left);
        left = 0;
      }
    }
    return out;
  }

  /** The next `n` bytes in chunks as they arrive; false as the last item if the stream ended early. */
  async *stream(n: number): AsyncGenerator<Uint8Array, boolean> {
    while (n > 0) {
      if (!this.buffered && !(await this.fill(1))) return false;
      for (const piece of this.pieces(n)) {
        n -= piece.length;
        yield piece;
      }
    }
    return true;
  }

  /** Reads to the end of the stream (so a hash of it is whole), discarding. */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    for (;;) {
      const { done } = await this.reader.read();
      if (done) return;
    }
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
  const truncated = () =>
    new ContainerError("read archive", what, undefined, "it ends in the middle of a member");
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, Uint8Array>();
  let globalPax = new Map<string, Uint8Array>();
  let finished = false;
  try {
    for (;;) {
      const header = await r.read(512);
      if (!header || header.every((b) => b === 0)) {
        // The end (archives may also stop without the two zero blocks): read
        // what follows, the record padding, so a hash of the stream is whole.
        await r.drain();
        finished = true;
        return;
      }
      // Unsigned sum, or the signed one some old tars wrote.
      let sum = 0;
      let signed = 0;
      for (let i = 0; i < 512; i++) {
        const b = i >= 148 && i < 156 ? 0x20 : header[i];
        sum += b;
        signed += b > 127 ? b - 256 : b;
      }
      const stored = octal(header, 148, 8);
      if (stored !== sum && stored !== signed) {
        throw new ContainerError(
          "read archive",
          what,
          undefined,
          "a member header is damaged (bad checksum); is it a tar?",
        );
      }
      const size = octal(header, 124, 12);
      const typeflag = String.fromCharCode(header[156]);
      const padding = (512 - (size % 512)) % 512;
      if ("xgLK".includes(typeflag)) {
        if (size > MAX_META) {
          throw new ContainerError("read archive", what, undefined, "a metadata member is too big");
        }
        const body = size ? await r.read(size + padding) : new Uint8Array(0);
        if (!body) throw truncated();
        const data = body.subarray(0, size);
        if (typeflag === "x") pax = paxRecords(data);
        else if (typeflag === "g") globalPax = new Map([...globalPax, ...paxRecords(data)]);
        else if (typeflag === "L") longName = field(data, 0, data.length);
        else longLink = field(data, 0, data.length);
        continue;
      }
      const type = TYPES[typeflag];
      const records = new Map([...globalPax, ...pax]);
      const prefix = decoder.decode(header.subarray(257, 263)).startsWith("ustar")
        ? field(header, 345, 155)
        : "";
      let name = longName ??
        (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
      let linkname = longLink ?? field(header, 157, 100);
      if (records.has("path")) name = decoder.decode(records.get("path"));
      if (records.has("linkpath")) linkname = decoder.decode(records.get("linkpath"));
      const xattrs: Record<string, Uint8Array> = {};
      for (const [k, v] of records) if (k.startsWith("SCHILY.xattr.")) xattrs[k.slice(13)] = v;
      const num = (key: string, fallback: number) =>
        records.has(key) ? Number(decoder.decode(records.get(key))) : fallback;
      longName = longLink = undefined;
      pax = new Map();
      // Hard links and the like carry no data even when the header says a size.
      const dataSize = num("size", size);
      const bodySize = type === "file" || !type ? dataSize : 0;
      let consumed = false;
      const body = async function* (): AsyncGenerator<Uint8Array> {
        if (consumed) return;
        consumed = true;
        const whole = yield* r.stream(bodySize + ((512 - (bodySize % 512)) % 512) || 0);
        if (!whole) throw truncated();
      };
      // Only the first `dataSize` bytes are the file; the rest is padding.
      const chunks = async function* (): AsyncGenerator<Uint8Array> {
        let left = dataSize;
        for await (const piece of body()) {
          if (left <= 0) continue;
          const part = piece.length > left ? piece.subarray(0, left) : piece;
          left -= part.length;
          yield part;
        }
      };
      if (type) {
        yield {
          name,
          type,
          mode: octal(header, 100, 8) & 0o7777,
          uid: num("uid", octal(header, 108, 8)),
          gid: num("gid", octal(header, 116, 8)),
          mtime: Math.floor(num("mtime", octal(header, 136, 12))),
          size: dataSize,
          linkname,
          devmajor: octal(header, 329, 8),
          devminor: octal(header, 337, 8),
          xattrs,
          chunks: type === "file" ? chunks : async function* () {},
        };
      }
      // Whatever the consumer left unread (or an unknown member's data) is skipped.
      for await (const _ of body()) { /* skip */ }
    }
  } finally {
    if (!finished) r.cancel();
  }
}
