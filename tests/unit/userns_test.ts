import assert from "node:assert/strict";
import { chooseMappings, DEFAULT_REMAP, parseSubIds } from "../../lib/userns/mappings.ts";
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
