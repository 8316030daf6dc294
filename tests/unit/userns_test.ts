import assert from "node:assert/strict";
import { chooseMappings, DEFAULT_REMAP, LAST_ID, parseSubIds } from "../../lib/userns/mappings.ts";
import { ContainerError } from "../../lib/errors.ts";

const files = {
  subuid: "alice:200000:65536\n# comment\n1001:300000:1000\n",
  subgid: "alice:200000:65536\n",
};

Deno.test("userns: subordinate ranges by name or uid", () => {
  assert.deepEqual(parseSubIds(files.subuid, "alice", 1000), [{ start: 200000, count: 65536 }]);
  assert.deepEqual(parseSubIds(files.subuid, "bob", 1001), [{ start: 300000, count: 1000 }]);
});

Deno.test("userns: rootless without --userns maps only the caller, as root", () => {
  const m = chooseMappings(undefined, 1000, 1000, files);
  assert.deepEqual(m.uidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
  assert.deepEqual(m.gidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
});

Deno.test("userns: remap takes root's documented default range when /etc/subuid has none", () => {
  const m = chooseMappings("remap", 0, 0, { subuid: "", subgid: "" });
  assert.deepEqual(m.uidMappings, [{ containerID: 0, ...DEFAULT_REMAP }]);
});

Deno.test("userns: a range the host does not grant is refused, exit 125", () => {
  assert.throws(
    () =>
      chooseMappings("500000:10", 0, 0, {
        subuid: "root:100000:65536\n",
        subgid: "root:100000:65536\n",
      }),
    (e) =>
      e instanceof ContainerError && e.exitCode === 125 && /is not granted to user/.test(e.message),
  );
  assert.deepEqual(
    chooseMappings("100000:10", 0, 0, {
      subuid: "root:100000:65536\n",
      subgid: "root:100000:65536\n",
    }).uidMappings,
    [{ containerID: 0, hostID: 100000, size: 10 }],
  );
  assert.throws(() => chooseMappings("remap", 1002, 1002, files), /no subordinate ids/);
  assert.throws(() => chooseMappings("lots", 0, 0, files), /takes "remap" or HOSTID:SIZE/);
});

Deno.test("userns: HOSTID:SIZE is exact: no wrap past 2^32, no float, one sentence, exit 125", () => {
  const root = { subuid: "", subgid: "" };
  const bad = (value: string, why: RegExp) =>
    assert.throws(() => chooseMappings(value, 0, 0, root), (e) => {
      assert.ok(e instanceof ContainerError, String(e));
      assert.equal(e.exitCode, 125);
      assert.equal(e.message.split("\n").length, 1);
      assert.ok(e.message.includes(`--userns ${value}`) || e.message.includes(`"${value}"`));
      assert.match(e.message, why);
      return true;
    });
  // 99999999999 mod 2^32 is 1215752191: the kernel would have mapped that many.
  bad("1:99999999999", /past the last id 4294967294 \(at most 4294967294 ids from 1\)/);
  bad("4294967295:1", /host ids go from 0 to 4294967294/);
  bad("99999999999999999999999:1", /host ids go from 0 to 4294967294/);
  bad("100000:4294967196", /past the last id/);
  bad("100000:0", /at least 1/);
  bad("100000:1.5", /HOSTID:SIZE/);
  bad("100000:-1", /HOSTID:SIZE/);
  bad("1e5:10", /HOSTID:SIZE/);
  bad("0x10:10", /HOSTID:SIZE/);
  // The edges themselves are fine.
  assert.deepEqual(chooseMappings("4294967294:1", 0, 0, root).uidMappings, [
    { containerID: 0, hostID: LAST_ID, size: 1 },
  ]);
  assert.deepEqual(chooseMappings("0:4294967295", 0, 0, root).uidMappings, [
    { containerID: 0, hostID: 0, size: 4294967295 },
  ]);
  // A subordinate range past the last id is ignored, not wrapped.
  assert.deepEqual(parseSubIds("root:4294967290:100\n", "root", 0), []);
});
