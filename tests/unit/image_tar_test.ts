// The tar reader and writer of lib/image: streamed bodies, PAX as bytes, damaged input.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readTar, type TarEntry } from "../../lib/image/tar.ts";
import { writeTree } from "../../lib/image/tar_write.ts";

const enc = new TextEncoder();

/** A ustar header block for `name` (type "0" file by default) with a valid checksum. */
function header(name: string, size: number, type = "0", extra: Partial<{ mode: number }> = {}) {
  const h = new Uint8Array(512);
  const put = (at: number, s: string) => h.set(enc.encode(s), at);
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, "0") + "\0";
  put(0, name);
  put(100, oct(extra.mode ?? 0o644, 8));
  put(108, oct(0, 8));
  put(116, oct(0, 8));
  put(124, oct(size, 12));
  put(136, oct(0, 12));
  put(148, "        ");
  put(156, type);
  put(257, "ustar\0");
  put(263, "00");
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** One PAX record, "LEN key=value\\n", LEN in bytes counting itself. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const rest = enc.encode(` ${key}=`).length + value.length + 1;
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  return concat([enc.encode(`${len} ${key}=`), value, enc.encode("\n")]);
}

function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.length / 512) * 512);
  out.set(bytes);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `bytes` as a stream of `piece`-sized chunks, as a network or decompressor delivers them. */
function chunked(bytes: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  });
}

async function entries(stream: ReadableStream<Uint8Array>) {
  const out: (Omit<TarEntry, "chunks"> & { data: Uint8Array; pieces: number })[] = [];
  for await (const e of readTar(stream, "t.tar")) {
    const parts: Uint8Array[] = [];
    for await (const c of e.chunks()) parts.push(c);
    out.push({ ...e, data: concat(parts), pieces: parts.length });
  }
  return out;
}

Deno.test("tar: a large file arrives in pieces, never whole, and byte for byte", async () => {
  const big = new Uint8Array(3 * 1024 * 1024 + 77);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  const tar = concat([
    header("big", big.length),
    padded(big),
    header("small", 5),
    padded(enc.encode("hello")),
    new Uint8Array(1024),
  ]);
  const got = await entries(chunked(tar, 64 * 1024));
  assert.deepEqual(got.map((e) => [e.name, e.size]), [["big", big.length], ["small", 5]]);
  assert.ok(got[0].pieces > 40, `${got[0].pieces} pieces: streamed, not buffered whole`);
  assert.deepEqual(got[0].data, big);
  assert.equal(new TextDecoder().decode(got[1].data), "hello");
});

Deno.test("tar: an entry's unread body is skipped; the record padding after the end is read", async () => {
  const tar = concat([
    header("a", 1000),
    padded(new Uint8Array(1000).fill(7)),
    header("b", 3),
    padded(enc.encode("bbb")),
    new Uint8Array(10240 - 2560), // the end blocks and the rest of a 10 KiB record
  ]);
  const hash = createHash("sha256");
  let seen = 0;
  const counted = chunked(tar, 512).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(c, ctl) {
        hash.update(c);
        seen += c.length;
        ctl.enqueue(c);
      },
    }),
  );
  const names: string[] = [];
  for await (const e of readTar(counted, "t.tar")) names.push(e.name); // bodies never read
  assert.deepEqual(names, ["a", "b"]);
  assert.equal(seen, tar.length, "a layer's diff id hashes the whole stream, padding included");
  assert.equal(
    hash.digest("hex"),
    createHash("sha256").update(tar).digest("hex"),
  );
});

Deno.test("tar: PAX xattr values are bytes (a binary security.capability survives)", async () => {
  const cap = new Uint8Array([1, 0, 0, 2, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const long = `${"d/".repeat(80)}ping`;
  const body = concat([
    paxRecord("SCHILY.xattr.security.capability", cap),
    paxRecord("path", enc.encode(long)),
  ]);
  const tar = concat([
    header("PaxHeader", body.length, "x"),
    padded(body),
    header("short-name", 0, "0", { mode: 0o4755 }),
    new Uint8Array(1024),
  ]);
  const [e] = await entries(chunked(tar, 100));
  assert.equal(e.name, long, "PAX path overrides the header's name");
  assert.deepEqual(e.xattrs["security.capability"], cap);
  assert.equal(e.mode, 0o4755);
});

Deno.test("tar: a damaged header and a truncated member are one sentence naming the archive", async () => {
  const bad = header("x", 0);
  bad[0] ^= 0xff;
  await assert.rejects(
    entries(chunked(concat([bad, new Uint8Array(1024)]), 512)),
    /read archive t\.tar: a member header is damaged \(bad checksum\)/,
  );
  await assert.rejects(
    entries(chunked(concat([header("x", 4096), new Uint8Array(1000)]), 512)),
    /read archive t\.tar: it ends in the middle of a member/,
  );
  // Not a tar at all (a zstd frame without its magic, say): the checksum says so.
  await assert.rejects(entries(chunked(new Uint8Array(600).fill(0x41), 600)), /bad checksum/);
});

Deno.test("tar: writeTree and readTar round-trip long and non-ASCII names, links and modes", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mc-tar-" });
  try {
    const deep = `${dir}/${"sub/".repeat(30)}`;
    Deno.mkdirSync(deep, { recursive: true });
    Deno.writeTextFileSync(`${deep}/naïve-файл.txt`, "unicode\n");
    Deno.writeFileSync(`${dir}/big`, new Uint8Array(2_500_000).fill(9));
    Deno.chmodSync(`${dir}/big`, 0o751);
    Deno.symlinkSync("big", `${dir}/link`);
    Deno.linkSync(`${dir}/big`, `${dir}/hard`);
    const parts: Uint8Array[] = [];
    await writeTree(dir, (c) => {
      parts.push(c.slice());
      return Promise.resolve();
    });
    const got = await entries(chunked(concat(parts), 8192));
    const by = new Map(got.map((e) => [e.name.replace(/\/$/, ""), e]));
    const unicode = by.get(`${"sub/".repeat(30)}naïve-файл.txt`);
    assert.ok(unicode, [...by.keys()].join(" "));
    assert.equal(new TextDecoder().decode(unicode.data), "unicode\n");
    assert.equal(by.get("big")!.data.length, 2_500_000);
    assert.equal(by.get("big")!.mode, 0o751);
    assert.deepEqual([by.get("link")!.type, by.get("link")!.linkname], ["symlink", "big"]);
    // The first of the two names carries the data, the second links to it.
    assert.deepEqual([by.get("hard")!.type, by.get("hard")!.linkname], ["hardlink", "big"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
