import assert from "node:assert/strict";
import {
  applyWrites,
  cgroupName,
  parentSegments,
  validateResources,
} from "../../lib/cgroups/common.ts";
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

/** Every resource field the spec has that a driver writes, beyond ALL's. */
const MORE: Resources = {
  memory: { kernel: 64 * MiB, kernelTCP: 16 * MiB, swappiness: 10, disableOOMKiller: true },
  blockIO: {
    leafWeight: 300,
    weightDevice: [{ major: 8, minor: 0, weight: 500, leafWeight: 300 }],
    throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }],
    throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 30 }],
  },
  hugepageLimits: [{ pageSize: "2MB", limit: 4 * MiB }],
  network: { classID: 255, priorities: [{ name: "lo", priority: 10 }] },
};

Deno.test("cgroups limits: v1 writes kernel memory, swappiness, OOM, blkio devices, net_cls, hugetlb", () => {
  assert.deepEqual(v1Writes(MORE).map((w) => [w.controller, w.files[0]]), [
    ["memory", ["memory.kmem.limit_in_bytes", "67108864"]],
    ["memory", ["memory.kmem.tcp.limit_in_bytes", "16777216"]],
    ["memory", ["memory.swappiness", "10"]],
    ["memory", ["memory.oom_control", "1"]],
    ["blkio", ["blkio.leaf_weight", "300"]],
    ["blkio", ["blkio.weight_device", "8:0 500"]],
    ["blkio", ["blkio.leaf_weight_device", "8:0 300"]],
    ["blkio", ["blkio.throttle.read_bps_device", "8:0 1000"]],
    ["blkio", ["blkio.throttle.write_iops_device", "8:16 30"]],
    ["net_cls", ["net_cls.classid", "255"]],
    ["net_prio", ["net_prio.ifpriomap", "lo 10"]],
    ["hugetlb", ["hugetlb.2MB.limit_in_bytes", "4194304"]],
  ]);
  // The kernel memory limit is read back: Linux 6.1+ takes the write and enforces nothing.
  assert.equal(v1Writes(MORE)[0].readBack, true);
});

Deno.test("cgroups limits: v2 writes io devices and hugetlb, and names what v2 has no file for", () => {
  const writes = v2Writes(MORE);
  assert.deepEqual(writes.filter((w) => w.files.length).map((w) => w.files[0]), [
    ["io.bfq.weight", "8:0 500"],
    ["io.max", "8:0 rbps=1000"],
    ["io.max", "8:16 wiops=30"],
    ["hugetlb.2MB.max", "4194304"],
  ]);
  const warnings: string[] = [];
  applyWrites(writes.filter((w) => !w.files.length), () => undefined, (m) => warnings.push(m));
  assert.deepEqual(warnings, [
    "kernel memory limit 67108864 not applied: cgroup v2 has no equivalent",
    "kernel TCP buffer limit 16777216 not applied: cgroup v2 has no equivalent",
    "memory swappiness 10 not applied: cgroup v2 has no equivalent",
    "disabling the OOM killer not applied: cgroup v2 has no equivalent",
    "block I/O leaf weights not applied: cgroup v2 has no equivalent",
    "network class id 255 not applied: cgroup v2 has no net_cls",
    "network priority 10 of lo not applied: cgroup v2 has no net_prio",
  ]);
});

Deno.test("cgroups limits: a limit the kernel keeps unchanged is a warning; a missing controller too", () => {
  const ignoring = Deno.makeTempDirSync();
  const honouring = Deno.makeTempDirSync();
  try {
    // A kernel that takes the write and keeps nothing: /dev/null reads back empty.
    Deno.symlinkSync("/dev/null", `${ignoring}/memory.kmem.limit_in_bytes`);
    const warnings: string[] = [];
    applyWrites(
      v1Writes({ memory: { kernel: 8192 }, network: { classID: 1 } }),
      (c) => (c === "memory" ? ignoring : undefined),
      (m) => warnings.push(m),
    );
    assert.deepEqual(warnings, [
      `kernel memory limit 8192 not applied: ${ignoring}/memory.kmem.limit_in_bytes still reads (empty) ` +
      "(this kernel no longer has a kernel memory limit)",
      "network class id 1 not applied: the net_cls cgroup controller is not available on this host",
    ]);
    // A plain file keeps what was written: no warning.
    Deno.writeTextFileSync(`${honouring}/memory.kmem.limit_in_bytes`, "");
    applyWrites(v1Writes({ memory: { kernel: 8192 } }), () => honouring, (m) => warnings.push(m));
    assert.equal(warnings.length, 2);
  } finally {
    Deno.removeSync(ignoring, { recursive: true });
    Deno.removeSync(honouring, { recursive: true });
  }
});

Deno.test("cgroups limits: swappiness, device rates, page sizes and interface names are checked", () => {
  const refused = (r: Resources, pattern: RegExp) =>
    assert.throws(() => validateResources(r), (e: ContainerError) => pattern.test(e.message));
  refused({ memory: { swappiness: 101 } }, /memory swappiness 101 is above 100/);
  refused(
    { blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: -1 }] } },
    /throttleReadBpsDevice -1/,
  );
  refused({ hugepageLimits: [{ pageSize: "huge", limit: 1 }] }, /huge page size "huge"/);
  refused(
    { network: { priorities: [{ name: "a/b", priority: 1 }] } },
    /"a\/b" is not an interface/,
  );
  validateResources(MORE);
});
