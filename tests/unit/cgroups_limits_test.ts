import assert from "node:assert/strict";
import { cgroupName, parentSegments, validateResources } from "../../lib/cgroups/common.ts";
import { v1Writes } from "../../lib/cgroups/v1.ts";
import { blkioToIoWeight, sharesToWeight, v2Writes } from "../../lib/cgroups/v2.ts";
import { ContainerError } from "../../lib/errors.ts";
import type { Resources } from "../../lib/spec.ts";

const MiB = 1024 * 1024;

const ALL: Resources = {
  memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 128 * MiB },
  cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0-1", mems: "0" },
  pids: { limit: 16 },
  blockIO: { weight: 500 },
};

/** file → value of the first candidate, in write order. */
function firstFiles(writes: { files: [string, string][] }[]): [string, string][] {
  return writes.map((w) => w.files[0]);
}

Deno.test("cgroups limits: v1 files, memory.limit before memsw and period before quota", () => {
  assert.deepEqual(firstFiles(v1Writes(ALL)), [
    ["memory.limit_in_bytes", "67108864"],
    ["memory.soft_limit_in_bytes", "33554432"],
    ["memory.memsw.limit_in_bytes", "134217728"],
    ["cpu.shares", "512"],
    ["cpu.cfs_period_us", "100000"],
    ["cpu.cfs_quota_us", "50000"],
    ["cpuset.cpus", "0-1"],
    ["cpuset.mems", "0"],
    ["pids.max", "16"],
    ["blkio.weight", "500"],
  ]);
  const blkio = v1Writes(ALL).find((w) => w.controller === "blkio")!;
  assert.deepEqual(blkio.files[1], ["blkio.bfq.weight", "500"]);
  assert.deepEqual(v1Writes({ memory: { limit: 64 * MiB, swap: -1 } })[1].files, [
    ["memory.memsw.limit_in_bytes", "-1"],
  ]);
  assert.deepEqual(v1Writes({}), []);
});

Deno.test("cgroups limits: v2 files, swap alone and converted weights", () => {
  assert.deepEqual(firstFiles(v2Writes(ALL)), [
    ["memory.max", "67108864"],
    ["memory.low", "33554432"],
    ["memory.swap.max", "67108864"],
    ["cpu.weight", "20"],
    ["cpu.max", "50000 100000"],
    ["cpuset.cpus", "0-1"],
    ["cpuset.mems", "0"],
    ["pids.max", "16"],
    ["io.bfq.weight", "500"],
  ]);
  const io = v2Writes(ALL).find((w) => w.controller === "io")!;
  assert.deepEqual(io.files[1], ["io.weight", "default 4950"]);
  assert.deepEqual(v2Writes({ memory: { limit: 64 * MiB, swap: -1 } })[1].files, [
    ["memory.swap.max", "max"],
  ]);
  assert.deepEqual(v2Writes({ cpu: { quota: 20000 } })[0].files, [["cpu.max", "20000 100000"]]);
  assert.deepEqual(v2Writes({ cpu: { period: 50000 } })[0].files, [["cpu.max", "max 50000"]]);
  assert.deepEqual(v2Writes({ memory: { limit: -1 } })[0].files, [["memory.max", "max"]]);
});

Deno.test("cgroups limits: unified keys go to their controller on v2", () => {
  const writes = v2Writes({ unified: { "memory.high": "50000000", "cgroup.max.depth": "3" } });
  assert.deepEqual(writes.map((w) => [w.controller, w.files]), [
    ["memory", [["memory.high", "50000000"]]],
    [undefined, [["cgroup.max.depth", "3"]]],
  ]);
});

Deno.test("cgroups limits: shares to weight and blkio to io weight as runc converts them", () => {
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
  assert.equal(blkioToIoWeight(10), 1);
  assert.equal(blkioToIoWeight(1000), 10000);
});

Deno.test("cgroups limits: resources no kernel takes are refused before anything is made", () => {
  const refuse = (r: Resources, text: RegExp) =>
    assert.throws(() => validateResources(r), (e: unknown) => {
      assert.ok(e instanceof ContainerError);
      assert.match(e.message, text);
      return true;
    });
  refuse({ memory: { swap: 128 * MiB } }, /needs a memory limit/);
  refuse({ memory: { limit: 64 * MiB, swap: 32 * MiB } }, /below the memory limit/);
  refuse({ memory: { limit: -2 } }, /memory limit -2/);
  refuse({ cpu: { shares: 1.5 } }, /cpu shares 1.5/);
  refuse({ pids: { limit: -3 } }, /pids limit -3/);
  refuse({ unified: { "../../etc/passwd": "x" } }, /not a cgroup interface file/);
  validateResources(ALL);
  validateResources({ memory: { limit: 64 * MiB, swap: -1 }, pids: { limit: -1 } });
});

Deno.test("cgroups limits: names and parents stay inside the hierarchy", () => {
  assert.equal(cgroupName("abc123"), "minicontainer-abc123");
  assert.throws(() => cgroupName("a/b"), ContainerError);
  assert.throws(() => cgroupName(""), ContainerError);
  assert.deepEqual(parentSegments("/user.slice", undefined), ["user.slice"]);
  assert.deepEqual(parentSegments("/user.slice", "/ci/jobs/"), ["ci", "jobs"]);
  assert.deepEqual(parentSegments("/user.slice", "ci"), ["user.slice", "ci"]);
  assert.deepEqual(parentSegments("/", undefined), []);
  assert.throws(() => parentSegments("/", "/a/../../etc"), /"\." or "\.\."/);
});
