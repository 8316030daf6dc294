// The state store's crash-consistent layout as data on disk: folders appear
// whole or not at all, tombstones and half-made folders of dead owners are
// reclaimed and live ones are not, names/ is an index rebuilt from the
// containers' own names, journal entries judge owners by pid and start time.
import assert from "node:assert/strict";
import { ownerAlive, ownerTag, parseOwner } from "../../lib/state/liveness.ts";
import { type ContainerState, StateStore } from "../../lib/state/store.ts";
import type { Spec } from "../../lib/spec.ts";

const id = (c: string) => c.repeat(64);

function state(i: string, name: string): ContainerState {
  return {
    id: i,
    name,
    status: "created",
    created: new Date().toISOString(),
    command: ["true"],
    spec: { ociVersion: "1.0.2" } as unknown as Spec,
  };
}

function tempStore(): StateStore {
  return new StateStore(Deno.makeTempDirSync({ prefix: "mc-state-" }));
}

/** A pid-start pair no process has: pid 1 started at boot, not at this tick. */
const DEAD = "1-999999999";

Deno.test("owner tags: this process is alive, a reused pid with another start time is not", () => {
  assert.match(ownerTag(), /^\d+-\d+$/);
  assert.ok(ownerAlive(ownerTag()));
  assert.ok(ownerAlive(`${ownerTag()}-a1b2c3`), "a suffix after the tag");
  assert.equal(ownerAlive(DEAD), false);
  assert.equal(ownerAlive(`${Deno.pid}-1`), false, "same pid, other start time");
  assert.equal(ownerAlive("abc"), false);
  assert.deepEqual(parseOwner("12-34-xyz"), { pid: 12, start: 34 });
  assert.equal(parseOwner("12-34x"), undefined);
});

Deno.test("state store: create is whole, a name stays taken, remove leaves nothing", async () => {
  const store = tempStore();
  await store.create(state(id("a"), "web"));
  assert.deepEqual(store.ids(), [id("a")]);
  assert.equal(store.read(id("a"))?.name, "web");
  assert.equal(Deno.readTextFileSync(`${store.dir(id("a"))}/name`), "web");
  assert.deepEqual(
    [...Deno.readDirSync(store.root)].map((e) => e.name).filter((n) => n.startsWith(".")),
    [],
    "no temporary folder left",
  );
  await assert.rejects(store.create(state(id("b"), "web")), /already in use by container aaaa/);
  assert.deepEqual(store.ids(), [id("a")], "nothing left by the refused create");
  store.removeFiles(id("a"), "web");
  assert.deepEqual(store.ids(), []);
  assert.deepEqual(
    [...Deno.readDirSync(store.root)].map((e) => e.name).filter((n) => n.startsWith(".")),
    [],
  );
  await store.create(state(id("b"), "web"));
  assert.equal(store.resolve("web"), id("b"));
});

Deno.test("state store: names/ deleted or stale is rebuilt from the containers' own names", async () => {
  const store = tempStore();
  await store.create(state(id("a"), "db"));
  Deno.removeSync(`${store.root}/names`, { recursive: true });
  assert.equal(store.resolve("db"), id("a"), "resolved without the index");
  await assert.rejects(store.create(state(id("b"), "db")), /already in use/);
  // An entry naming a container that is gone (a kill before the rename) holds nothing.
  Deno.writeTextFileSync(`${store.root}/names/ghost`, id("c"));
  await store.create(state(id("d"), "ghost"));
  assert.equal(store.resolve("ghost"), id("d"));
  // An entry pointing at a container of another name holds nothing either.
  Deno.writeTextFileSync(`${store.root}/names/other`, id("a"));
  assert.equal(store.nameOwner("other"), undefined);
});

Deno.test("state store: unreadable state is reported with its name and why", async () => {
  const store = tempStore();
  await store.create(state(id("a"), "broken"));
  Deno.writeTextFileSync(`${store.dir(id("a"))}/state.json`, '{"id": "aaa');
  const got = store.readOrWhy(id("a"));
  assert.deepEqual(got, { id: id("a"), name: "broken", reason: "state.json is not valid JSON" });
  assert.equal(store.read(id("a")), undefined);
  assert.equal(store.resolve("broken"), id("a"), "still found by name");
  Deno.removeSync(`${store.dir(id("a"))}/state.json`);
  assert.equal((store.readOrWhy(id("a")) as { reason: string }).reason, "state.json is missing");
  assert.deepEqual(store.readOrWhy(id("f")), { gone: true });
});

Deno.test("state store: folders of dead creators and removers are reclaimed, live ones kept", () => {
  const store = tempStore();
  const mk = (name: string) => {
    Deno.mkdirSync(`${store.root}/${name}`);
    Deno.writeTextFileSync(
      `${store.root}/${name}/state.json`,
      JSON.stringify({ ...state(id("9"), "x"), cgroupPaths: ["/sys/fs/cgroup/nowhere"] }),
    );
  };
  mk(`.new-${DEAD}-${id("1")}`);
  mk(`.new-${ownerTag()}-${id("2")}`);
  mk(`.rm-${DEAD}-${id("3")}`);
  mk(`.rm-${ownerTag()}-${id("4")}`);
  const dead = store.reclaim();
  assert.deepEqual(dead.map((d) => d.id), [id("3")], "only the dead remover's tombstone");
  assert.deepEqual(dead[0].state?.cgroupPaths, ["/sys/fs/cgroup/nowhere"]);
  store.removeDead(dead[0]);
  assert.deepEqual(
    [...Deno.readDirSync(store.root)].map((e) => e.name).sort(),
    [`.new-${ownerTag()}-${id("2")}`, `.rm-${ownerTag()}-${id("4")}`].sort(),
  );
});

Deno.test("state store: journal entries of dead owners are dead claims unless a live one holds the id", () => {
  const store = tempStore();
  const mine = store.claim(id("a"));
  Deno.writeFileSync(`${store.root}/owners/${id("a")}.${DEAD}`, new Uint8Array());
  Deno.writeFileSync(`${store.root}/owners/${id("b")}.${DEAD}`, new Uint8Array());
  assert.ok(store.claimed(id("a")));
  assert.equal(store.claimed(id("b")), false);
  assert.deepEqual([...store.deadClaims().keys()], [id("b")]);
  store.release(mine);
  assert.deepEqual([...store.deadClaims().keys()].sort(), [id("a"), id("b")]);
});
