/**
 * A streaming tar reader (ustar, PAX, GNU long names and GNU sparse files
 * in the old GNU, PAX 0.1 and PAX 1.0 formats), enough for image layers and
 * rootfs tarballs. Entries come one at a time and a file's
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
  /** Whole seconds since the epoch. */
  mtime: number;
  /** The nanoseconds a PAX mtime record adds. */
  mtimeNsec: number;
  size: number;
  linkname: string;
  /** Owner names (the header's, or PAX uname/gname); extraction uses the numbers, as docker. */
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX SCHILY.xattr.* records. */
  xattrs: Record<string, Uint8Array>;
  /**
   * The member's bytes (files only), chunk by chunk as they arrive. Read
   * them before asking for the next entry; what is left unread is skipped.
   * A sparse file's holes come as zero chunks {@link isHole} tells apart.
   */
  chunks(): AsyncGenerator<Uint8Array>;
}

const TYPES: Record<string, TarEntry["type"]> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  S: "file", // old GNU sparse
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

/** Zeros a sparse file's holes are cut from: a writer that sees them may seek instead. */
const HOLE = new Uint8Array(1 << 20);

/** Whether `chunk` is (part of) a sparse file's hole, all zeros. */
export function isHole(chunk: Uint8Array): boolean {
  return chunk.buffer === HOLE.buffer;
}

async function* holes(n: number): AsyncGenerator<Uint8Array> {
  for (; n > 0; n -= Math.min(n, HOLE.length)) yield HOLE.subarray(0, Math.min(n, HOLE.length));
}

/** A sparse file: the runs stored ([offset, length]) and its size. */
interface Sparse {
  map: [number, number][];
  realSize: number;
  /** PAX 1.0: the map is at the start of the member's data. */
  inData: boolean;
}

/** A sparse map of more runs than this is a hostile archive. */
const MAX_RUNS = 1 << 20;

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
      const text = (key: string) => records.has(key) ? decoder.decode(records.get(key)) : undefined;
      let sparse: Sparse | undefined;
      const damaged = (why: string) =>
        new ContainerError("read archive", what, undefined, `a sparse member ${why}`);
      if (typeflag === "S") {
        // Old GNU: four runs in the header, 21 more in each extension block after it.
        const map: [number, number][] = [];
        const runs = (block: Uint8Array, at: number, count: number) => {
          for (let i = 0; i < count && block[at + i * 24]; i++) {
            map.push([octal(block, at + i * 24, 12), octal(block, at + i * 24 + 12, 12)]);
          }
        };
        runs(header, 386, 4);
        for (let more = header[482]; more;) {
          const ext = await r.read(512);
          if (!ext) throw truncated();
          runs(ext, 0, 21);
          if (map.length > MAX_RUNS) throw damaged("has too many runs");
          more = ext[504];
        }
        sparse = { map, realSize: octal(header, 483, 12), inData: false };
      } else if (text("GNU.sparse.major") === "1") {
        sparse = { map: [], realSize: Number(text("GNU.sparse.realsize")), inData: true };
      } else if (records.has("GNU.sparse.map")) {
        const nums = text("GNU.sparse.map")!.split(",").map(Number);
        if (nums.length % 2 || nums.some((n) => !Number.isSafeInteger(n) || n < 0)) {
          throw damaged("has a bad map");
        }
        const map: [number, number][] = [];
        for (let i = 0; i < nums.length; i += 2) map.push([nums[i], nums[i + 1]]);
        sparse = { map, realSize: Number(text("GNU.sparse.size")), inData: false };
      } else if (records.has("GNU.sparse.offset")) {
        throw damaged("is in the GNU PAX 0.0 format, which is not supported");
      }
      if (sparse && (!Number.isSafeInteger(sparse.realSize) || sparse.realSize < 0)) {
        throw damaged("has a bad size");
      }
      const prefix = decoder.decode(header.subarray(257, 263)).startsWith("ustar")
        ? field(header, 345, 155)
        : "";
      let name = longName ??
        (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
      let linkname = longLink ?? field(header, 157, 100);
      if (records.has("path")) name = decoder.decode(records.get("path"));
      // PAX sparse files carry their real name apart (the path is GNU's GNUSparseFile.N/...).
      if (sparse && records.has("GNU.sparse.name")) name = text("GNU.sparse.name")!;
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
      const storedBytes = async function* (): AsyncGenerator<Uint8Array> {
        let left = dataSize;
        for await (const piece of body()) {
          if (left <= 0) continue;
          const part = piece.length > left ? piece.subarray(0, left) : piece;
          left -= part.length;
          yield part;
        }
      };
      // A sparse file: its stored runs at their offsets, holes between and after them.
      const expanded = async function* (s: Sparse): AsyncGenerator<Uint8Array> {
        const src = storedBytes();
        let buf: Uint8Array = new Uint8Array(0);
        const upTo = async (n: number): Promise<Uint8Array> => {
          if (!buf.length) {
            const next = await src.next();
            if (next.done) throw truncated();
            buf = next.value;
          }
          const out = buf.subarray(0, Math.min(n, buf.length));
          buf = buf.subarray(out.length);
          return out;
        };
        let map = s.map;
        if (s.inData) {
          // Decimal lines: the count of runs, then each run's offset and length; to a block's end.
          let lines = "";
          for (;;) {
            let block: Uint8Array = new Uint8Array(0);
            while (block.length < 512) {
              const piece = await upTo(512 - block.length);
              const joined = new Uint8Array(block.length + piece.length);
              joined.set(block);
              joined.set(piece, block.length);
              block = joined;
            }
            lines += decoder.decode(block);
            const nums = lines.split("\n");
            const count = Number(nums[0]);
            if (nums.length > 1 && (!Number.isSafeInteger(count) || count > MAX_RUNS)) {
              throw damaged("has a bad map");
            }
            if (nums.length - 1 >= 1 + 2 * count) {
              const values = nums.slice(1, 1 + 2 * count).map(Number);
              if (values.some((n) => !Number.isSafeInteger(n) || n < 0)) {
                throw damaged("has a bad map");
              }
              map = [];
              for (let i = 0; i < values.length; i += 2) map.push([values[i], values[i + 1]]);
              break;
            }
            if (lines.length > MAX_META) throw damaged("has a map too big");
          }
        }
        let pos = 0;
        for (const [offset, length] of map) {
          if (offset < pos || offset + length > s.realSize) throw damaged("has overlapping runs");
          yield* holes(offset - pos);
          for (let left = length; left > 0;) {
            const piece = await upTo(left);
            left -= piece.length;
            yield piece;
          }
          pos = offset + length;
        }
        yield* holes(s.realSize - pos);
      };
      const chunks = sparse ? () => expanded(sparse) : storedBytes;
      // A PAX time keeps its fraction to the nanosecond, as GNU tar restores it (a double cannot).
      let mtime = octal(header, 136, 12);
      let mtimeNsec = 0;
      const paxTime = /^(-?\d+)(?:\.(\d{1,9})\d*)?$/.exec(text("mtime") ?? "");
      if (paxTime) {
        mtime = Number(paxTime[1]);
        mtimeNsec = Number((paxTime[2] ?? "").padEnd(9, "0"));
      }
      if (type) {
        yield {
          name,
          type,
          mode: octal(header, 100, 8) & 0o7777,
          uid: num("uid", octal(header, 108, 8)),
          gid: num("gid", octal(header, 116, 8)),
          mtime,
          mtimeNsec,
          size: sparse ? sparse.realSize : dataSize,
          linkname,
          uname: text("uname") ?? field(header, 265, 32),
          gname: text("gname") ?? field(header, 297, 32),
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
