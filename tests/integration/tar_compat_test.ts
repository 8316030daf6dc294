// The tar reader against GNU tar: archives made by Python's tarfile (every
// PAX record that overrides a header field) and by GNU tar (sparse files in
// the old GNU, PAX 0.1 and PAX 1.0 formats) unpack to the tree GNU tar
// unpacks them to: names, types, modes, owners, sizes, times, link targets
// and contents; and sparse files keep their holes.
import assert from "node:assert/strict";
import { extractLayer } from "../../lib/image/extract.ts";
import { readTar } from "../../lib/image/tar.ts";
import { rootOnly, sh } from "./helpers.ts";

/** One line a path: what GNU find says about it, and its content's hash. */
async function tree(dir: string): Promise<string> {
  return await sh(
    `cd ${dir} && find . -mindepth 1 -printf '%P %y %m %U %G %s %T@ %l\\n' | sort && ` +
      `find . -type f -print0 | sort -z | xargs -0 -r sha256sum`,
  );
}

async function compare(archive: string, work: string): Promise<string> {
  Deno.mkdirSync(`${work}/gnu`);
  Deno.mkdirSync(`${work}/ours`);
  await sh(`tar -C ${work}/gnu --same-owner --numeric-owner -xpf ${archive}`);
  const file = await Deno.open(archive);
  await extractLayer(file.readable, `${work}/ours`, archive);
  const [gnu, ours] = [await tree(`${work}/gnu`), await tree(`${work}/ours`)];
  assert.equal(ours, gnu, archive);
  return ours;
}

Deno.test({
  ...rootOnly(
    "tar: every PAX record that overrides a header field (Python's tarfile) as GNU tar reads it",
  ),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-tar-" });
    try {
      await sh(`python3 - <<'EOF'
import tarfile, io
t = tarfile.open("${work}/pax.tar", "w", format=tarfile.PAX_FORMAT)
def add(name, data=b"", kind=tarfile.REGTYPE, link="", pax=None, uid=0, gid=0, mtime=1000):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data)
    i.mode = 0o755 if kind == tarfile.DIRTYPE else 0o640; i.uid = uid; i.gid = gid; i.mtime = mtime
    if pax: i.pax_headers = pax
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
add("d", kind=tarfile.DIRTYPE)
# Ids beyond ustar's 8 octal digits and a fractional mtime go in PAX records.
add("d/big-ids", b"ids", uid=3000000, gid=4000000, mtime=1700000000.75)
add("d/" + "long-" * 40 + "name", b"long path")
add("d/link", kind=tarfile.SYMTYPE, link="/" + "target/" * 30 + "end")
add("d/names", b"names", pax={"uname": "someone", "gname": "somegroup", "uid": "1234", "gid": "5678"})
add("d/\\u00e9t\\u00e9", b"utf-8 name")
add("d/old", b"before", mtime=-1 + 2)
t.close()
EOF`);
      await compare(`${work}/pax.tar`, work);
      // The names too, which extraction leaves aside (numeric owners, as docker):
      const entries = [];
      for await (const e of readTar((await Deno.open(`${work}/pax.tar`)).readable, "pax.tar")) {
        entries.push({ name: e.name, uid: e.uid, uname: e.uname, gname: e.gname, mtime: e.mtime });
      }
      const names = entries.find((e) => e.name === "d/names")!;
      assert.deepEqual(names, {
        name: "d/names",
        uid: 1234,
        uname: "someone",
        gname: "somegroup",
        mtime: 1000,
      });
      assert.equal(entries.find((e) => e.name === "d/big-ids")!.uid, 3000000);
    } finally {
      Deno.removeSync(work, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly(
    "tar: GNU sparse files (old GNU, PAX 0.1, PAX 1.0) unpack as GNU tar unpacks them, holes kept",
  ),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-tar-" });
    try {
      // Runs of data between holes, one past the old header's four runs, and a hole at the end.
      await sh(
        `mkdir ${work}/src && cd ${work}/src && ` +
          `truncate -s 64M sparse && for i in 0 3 9 17 30 41; do printf 'run %s' $i | dd of=sparse bs=1M seek=$i conv=notrunc 2>/dev/null; done && ` +
          `truncate -s 1M all-hole && printf data > dense && chown 7:8 sparse`,
      );
      for (
        const [label, flags] of [
          ["gnu", "--format=gnu --sparse"],
          ["pax01", "--format=pax --sparse --sparse-version=0.1"],
          ["pax10", "--format=pax --sparse --sparse-version=1.0"],
        ]
      ) {
        Deno.mkdirSync(`${work}/${label}`);
        await sh(`tar -C ${work}/src ${flags} -cf ${work}/${label}.tar .`);
        const listing = await compare(`${work}/${label}.tar`, `${work}/${label}`);
        assert.match(listing, / 67108864 /, `${label}: the sparse file's full size`);
        const used = Number((await sh(`du -k ${work}/${label}/ours/sparse`)).split("\t")[0]);
        assert.ok(used < 1024, `${label}: holes stay holes (${used} kB used)`);
      }
    } finally {
      Deno.removeSync(work, { recursive: true });
    }
  },
});
