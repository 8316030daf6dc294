// What the image store reclaims, as files on disk: scratch, container roots,
// leases and downloads of dead owners go; those of live ones (and roots a
// detached container's state holds) stay.
import assert from "node:assert/strict";
import { ImageStore } from "../../lib/image/store.ts";
import { ownerTag } from "../../lib/state/liveness.ts";

/** A pid-start pair no process has. */
const DEAD = "1-999999999";

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("image store reclaim: dead owners' leftovers go, live owners' stay", () => {
  // A data directory: the store in images/, every container's directory in containers/.
  const data = Deno.makeTempDirSync({ prefix: "mc-data-" });
  const root = `${data}/images`;
  for (const d of ["layers", "leases", "blobs"]) {
    Deno.mkdirSync(`${root}/${d}`, { recursive: true });
  }
  Deno.mkdirSync(`${data}/containers`);
  const self = ownerTag().split("-").map(Number);
  const dir = (path: string, owner?: unknown) => {
    const at = path.startsWith("containers/") ? `${data}/${path}` : `${root}/${path}`;
    Deno.mkdirSync(`${at}/upper`, { recursive: true });
    Deno.writeTextFileSync(`${at}/layers.json`, "[]");
    if (owner) Deno.writeTextFileSync(`${at}/owner.json`, JSON.stringify(owner));
  };
  dir(`layers/.unpack-${DEAD}-abc`);
  dir(`layers/.load-${ownerTag()}-abc`);
  dir(`layers/.unpack-legacy`); // an older version's: no owner, so none alive
  dir(`containers/.new-${DEAD}-aaaaaaaaaaaaaaaa`);
  dir(`containers/.new-${ownerTag()}-bbbbbbbbbbbbbbbb`);
  dir("containers/cccccccccccccccc", { pid: 1, start: 999999999 });
  dir("containers/dddddddddddddddd", { pid: self[0], start: self[1] });
  dir("containers/eeeeeeeeeeeeeeee", { pid: 1, start: 999999999, stateDir: data });
  dir("containers/ffffffffffffffff"); // no owner.json: nothing says it is dead
  Deno.writeTextFileSync(`${root}/leases/${DEAD}.1234abcd.json`, "[]");
  Deno.writeTextFileSync(`${root}/index.json.tmp-${DEAD}`, "{}");
  Deno.writeTextFileSync(`${root}/blobs/0123.partial`, "x");

  const store = new ImageStore(root);
  const first = store.reclaim(true);
  assert.deepEqual(names(`${root}/layers`), [`.load-${ownerTag()}-abc`]);
  assert.deepEqual(names(`${data}/containers`), [
    `.new-${ownerTag()}-bbbbbbbbbbbbbbbb`,
    "dddddddddddddddd",
    "eeeeeeeeeeeeeeee",
    "ffffffffffffffff",
  ]);
  assert.deepEqual(names(`${root}/leases`), []);
  assert.deepEqual(names(`${root}/blobs`), [], "no pull runs: downloads go");
  assert.equal(names(root).some((n) => n.startsWith("index.json.tmp")), false);
  assert.equal(first.paths.length, 7, "2 scratch, 2 roots, a lease, a temp index, a blob");
  assert.ok(first.bytes > 0);

  // A live lease (a pull running) keeps the downloads.
  const lease = store.lease();
  Deno.writeTextFileSync(`${root}/blobs/0123.partial`, "x");
  store.reclaim(true);
  assert.deepEqual(names(`${root}/blobs`), ["0123.partial"]);
  lease.release();
  Deno.removeSync(data, { recursive: true });
});
