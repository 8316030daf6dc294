import assert from "node:assert/strict";
import {
  parseBytes,
  parseCpuList,
  parseUlimit,
  resourcesFromFlags,
  ULIMIT_NAMES,
} from "../../lib/cli/resource_flags.ts";
import { RLIMITS } from "../../lib/container/rlimits.ts";
import { ContainerError, EXIT_RUNTIME } from "../../lib/errors.ts";

const MiB = 1024 * 1024;

/** Asserts a usage error (exit 125) whose one sentence names the flag and the value. */
function assertBad(fn: () => unknown, flag: string, value: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ContainerError, `not a ContainerError: ${e}`);
    assert.equal(e.exitCode, EXIT_RUNTIME);
    assert.ok(e.message.includes(`--${flag}`), e.message);
    assert.ok(e.message.includes(`"${value}"`), e.message);
    assert.equal(e.message.split("\n").length, 1);
    return true;
  });
}

Deno.test("resource flags: docker's size units", () => {
  assert.equal(parseBytes("memory", "100b"), 100);
  assert.equal(parseBytes("memory", "100"), 100);
  assert.equal(parseBytes("memory", "512k"), 512 * 1024);
  assert.equal(parseBytes("memory", "64m"), 64 * MiB);
  assert.equal(parseBytes("memory", "64M"), 64 * MiB);
  assert.equal(parseBytes("memory", "64MB"), 64 * MiB);
  assert.equal(parseBytes("memory", "64MiB"), 64 * MiB);
  assert.equal(parseBytes("memory", "1g"), 1024 * MiB);
  assert.equal(parseBytes("memory", "1.5g"), 1536 * MiB);
  assert.equal(parseBytes("memory", "2t"), 2 * 1024 * 1024 * MiB);
  assertBad(() => parseBytes("memory", "10q"), "memory", "10q");
  assertBad(() => parseBytes("memory", "-5m"), "memory", "-5m");
  assertBad(() => parseBytes("memory", "m"), "memory", "m");
  assertBad(() => parseBytes("memory", ""), "memory", "");
});

Deno.test("resource flags: --memory alone allows as much swap again, like docker", () => {
  const { resources } = resourcesFromFlags({ memory: "64m" });
  assert.deepEqual(resources, { memory: { limit: 64 * MiB, swap: 128 * MiB } });
});

Deno.test("resource flags: --memory-swap is memory+swap; -1 is unlimited", () => {
  assert.deepEqual(resourcesFromFlags({ memory: "64m", memorySwap: "100m" }).resources, {
    memory: { limit: 64 * MiB, swap: 100 * MiB },
  });
  assert.deepEqual(resourcesFromFlags({ memory: "64m", memorySwap: "-1" }).resources, {
    memory: { limit: 64 * MiB, swap: -1 },
  });
  assert.deepEqual(resourcesFromFlags({ memory: "64m", memorySwap: "64m" }).resources, {
    memory: { limit: 64 * MiB, swap: 64 * MiB },
  });
  assertBad(() => resourcesFromFlags({ memorySwap: "1g" }), "memory-swap", "1g");
  assertBad(() => resourcesFromFlags({ memory: "64m", memorySwap: "32m" }), "memory-swap", "32m");
  assertBad(() => resourcesFromFlags({ memory: "64m", memorySwap: "-2" }), "memory-swap", "-2");
});

Deno.test("resource flags: memory minimum and reservation", () => {
  assertBad(() => resourcesFromFlags({ memory: "1m" }), "memory", "1m");
  assert.deepEqual(resourcesFromFlags({ memory: "0" }).resources, {});
  assert.deepEqual(resourcesFromFlags({ memoryReservation: "32m" }).resources, {
    memory: { reservation: 32 * MiB },
  });
  assert.deepEqual(
    resourcesFromFlags({ memory: "64m", memoryReservation: "32m" }).resources.memory,
    { limit: 64 * MiB, reservation: 32 * MiB, swap: 128 * MiB },
  );
  assertBad(
    () => resourcesFromFlags({ memory: "64m", memoryReservation: "128m" }),
    "memory-reservation",
    "128m",
  );
});

Deno.test("resource flags: --cpus becomes a CFS quota per 100 ms period", () => {
  assert.deepEqual(resourcesFromFlags({ cpus: "0.5" }).resources, {
    cpu: { quota: 50000, period: 100000 },
  });
  assert.deepEqual(resourcesFromFlags({ cpus: "1" }).resources, {
    cpu: { quota: 100000, period: 100000 },
  });
  assert.deepEqual(resourcesFromFlags({ cpus: ".25" }).resources, {
    cpu: { quota: 25000, period: 100000 },
  });
  assert.deepEqual(resourcesFromFlags({ cpus: "0" }).resources, {});
  assertBad(() => resourcesFromFlags({ cpus: "-1" }), "cpus", "-1");
  assertBad(() => resourcesFromFlags({ cpus: "half" }), "cpus", "half");
  assertBad(() => resourcesFromFlags({ cpus: "0.001" }), "cpus", "0.001");
});

Deno.test("resource flags: --cpus above the machine's CPU count is refused", () => {
  const status = Deno.readTextFileSync("/proc/self/status");
  const allowed = parseCpuList("", /^Cpus_allowed_list:\s*(\S+)/m.exec(status)![1]).length;
  assert.deepEqual(resourcesFromFlags({ cpus: String(allowed) }).resources.cpu, {
    quota: allowed * 100000,
    period: 100000,
  });
  const over = String(allowed + 0.5);
  assertBad(() => resourcesFromFlags({ cpus: over }), "cpus", over);
});

Deno.test("resource flags: --cpu-shares, --cpuset-cpus, --cpuset-mems", () => {
  assert.deepEqual(
    resourcesFromFlags({ cpuShares: "512", cpusetCpus: "0", cpusetMems: "0" }).resources,
    { cpu: { shares: 512, cpus: "0", mems: "0" } },
  );
  assert.deepEqual(resourcesFromFlags({ cpuShares: "0" }).resources, {});
  assertBad(() => resourcesFromFlags({ cpuShares: "-2" }), "cpu-shares", "-2");
  assertBad(() => resourcesFromFlags({ cpuShares: "1.5" }), "cpu-shares", "1.5");
  assertBad(() => resourcesFromFlags({ cpusetCpus: "0-" }), "cpuset-cpus", "0-");
  assertBad(() => resourcesFromFlags({ cpusetCpus: "3-1" }), "cpuset-cpus", "3-1");
  assertBad(() => resourcesFromFlags({ cpusetCpus: "0,4095" }), "cpuset-cpus", "0,4095");
  assertBad(() => resourcesFromFlags({ cpusetMems: "a" }), "cpuset-mems", "a");
});

Deno.test("resource flags: CPU lists", () => {
  assert.deepEqual(parseCpuList("cpuset-cpus", "0-1,3"), [0, 1, 3]);
  assert.deepEqual(parseCpuList("cpuset-cpus", "2"), [2]);
  assert.deepEqual(parseCpuList("cpuset-cpus", "0-2,5-6"), [0, 1, 2, 5, 6]);
});

Deno.test("resource flags: --pids-limit (0 and -1 are unlimited) and --blkio-weight", () => {
  assert.deepEqual(resourcesFromFlags({ pidsLimit: "64" }).resources, { pids: { limit: 64 } });
  assert.deepEqual(resourcesFromFlags({ pidsLimit: "-1" }).resources, {});
  assert.deepEqual(resourcesFromFlags({ pidsLimit: "0" }).resources, {});
  assertBad(() => resourcesFromFlags({ pidsLimit: "-5" }), "pids-limit", "-5");
  assertBad(() => resourcesFromFlags({ pidsLimit: "ten" }), "pids-limit", "ten");
  assert.deepEqual(resourcesFromFlags({ blkioWeight: "300" }).resources, {
    blockIO: { weight: 300 },
  });
  assert.deepEqual(resourcesFromFlags({ blkioWeight: "0" }).resources, {});
  assertBad(() => resourcesFromFlags({ blkioWeight: "5" }), "blkio-weight", "5");
  assertBad(() => resourcesFromFlags({ blkioWeight: "1001" }), "blkio-weight", "1001");
});

Deno.test("resource flags: --ulimit NAME=SOFT[:HARD] for every name docker accepts", () => {
  for (const name of ULIMIT_NAMES) {
    const r = parseUlimit(`${name}=10:20`);
    assert.equal(r.type, `RLIMIT_${name.toUpperCase()}`);
    assert.ok(r.type in RLIMITS, `${r.type} has no number`);
    assert.deepEqual([r.soft, r.hard], [10, 20]);
  }
  assert.deepEqual(parseUlimit("nofile=64"), { type: "RLIMIT_NOFILE", soft: 64, hard: 64 });
  assert.deepEqual(parseUlimit("core=unlimited"), { type: "RLIMIT_CORE", soft: -1, hard: -1 });
  assert.deepEqual(parseUlimit("core=0:-1"), { type: "RLIMIT_CORE", soft: 0, hard: -1 });
  assert.deepEqual(parseUlimit("stack=8192:unlimited"), {
    type: "RLIMIT_STACK",
    soft: 8192,
    hard: -1,
  });
  assertBad(() => parseUlimit("nofiles=1:2"), "ulimit", "nofiles=1:2");
  assertBad(() => parseUlimit("nofile=64:32"), "ulimit", "nofile=64:32");
  assertBad(() => parseUlimit("nofile=-1:32"), "ulimit", "nofile=-1:32");
  assertBad(() => parseUlimit("nofile=-2"), "ulimit", "nofile=-2");
  assertBad(() => parseUlimit("nofile"), "ulimit", "nofile");
  assertBad(() => parseUlimit("nofile=a:b"), "ulimit", "nofile=a:b");
});

Deno.test("resource flags: a repeated --ulimit keeps the last value", () => {
  const { rlimits, resources } = resourcesFromFlags({
    ulimits: ["nofile=64:64", "nproc=100", "nofile=128:256"],
  });
  assert.deepEqual(resources, {});
  assert.deepEqual(rlimits, [
    { type: "RLIMIT_NOFILE", soft: 128, hard: 256 },
    { type: "RLIMIT_NPROC", soft: 100, hard: 100 },
  ]);
});

Deno.test("resource flags: nothing given, nothing set", () => {
  assert.deepEqual(resourcesFromFlags({}), { resources: {}, rlimits: [] });
});

Deno.test("resource flags: sizes are exact, never wrapped or rounded to no limit", () => {
  assert.equal(parseBytes("memory", "1.5k"), 1536);
  assert.equal(parseBytes("memory", "9007199254740991"), Number.MAX_SAFE_INTEGER);
  assertBad(() => parseBytes("memory", "8p"), "memory", "8p"); // 2^53
  // 0.5 bytes used to become 0: "no limit".
  assertBad(() => parseBytes("memory", "0.5"), "memory", "0.5");
  assertBad(() => parseBytes("memory", "0.1k"), "memory", "0.1k");
  assertBad(() => parseBytes("memory", "9007199254740993"), "memory", "9007199254740993");
  assertBad(() => parseBytes("memory", "99999999999999999999p"), "memory", "99999999999999999999p");
  assertBad(() => parseBytes("memory", "1e9"), "memory", "1e9");
  assertBad(() => resourcesFromFlags({ memory: "0.5" }), "memory", "0.5");
  assertBad(
    () => resourcesFromFlags({ memory: "64m", memorySwap: "1.0000001g" }),
    "memory-swap",
    "1.0000001g",
  );
  assertBad(() => resourcesFromFlags({ memoryReservation: "9p" }), "memory-reservation", "9p");
});

Deno.test("resource flags: --cpus exact to the nanosecond, no float rounding, no huge values", () => {
  assert.deepEqual(resourcesFromFlags({ cpus: "0.123456789" }).resources.cpu, {
    quota: 12345,
    period: 100000,
  });
  assertBad(() => resourcesFromFlags({ cpus: "0.1234567891" }), "cpus", "0.1234567891");
  assertBad(() => resourcesFromFlags({ cpus: "1e0" }), "cpus", "1e0");
  assertBad(() => resourcesFromFlags({ cpus: "." }), "cpus", ".");
  assertBad(
    () => resourcesFromFlags({ cpus: "99999999999999999999999" }),
    "cpus",
    "99999999999999999999999",
  );
});

Deno.test("resource flags: --cpu-shares, --pids-limit, --blkio-weight within the kernel's bounds", () => {
  assert.deepEqual(resourcesFromFlags({ cpuShares: "2" }).resources, { cpu: { shares: 2 } });
  assert.deepEqual(resourcesFromFlags({ cpuShares: "262144" }).resources, {
    cpu: { shares: 262144 },
  });
  assertBad(() => resourcesFromFlags({ cpuShares: "1" }), "cpu-shares", "1");
  assertBad(() => resourcesFromFlags({ cpuShares: "262145" }), "cpu-shares", "262145");
  assertBad(
    () => resourcesFromFlags({ cpuShares: "18446744073709551617" }),
    "cpu-shares",
    "18446744073709551617",
  );
  assert.deepEqual(resourcesFromFlags({ pidsLimit: "4194304" }).resources, {
    pids: { limit: 4194304 },
  });
  assert.deepEqual(resourcesFromFlags({ pidsLimit: "-1" }).resources, {});
  assertBad(() => resourcesFromFlags({ pidsLimit: "4194305" }), "pids-limit", "4194305");
  assertBad(() => resourcesFromFlags({ pidsLimit: "-2" }), "pids-limit", "-2");
  assertBad(() => resourcesFromFlags({ pidsLimit: "1.5" }), "pids-limit", "1.5");
  assertBad(
    () => resourcesFromFlags({ pidsLimit: "9007199254740993" }),
    "pids-limit",
    "9007199254740993",
  );
  assert.deepEqual(resourcesFromFlags({ blkioWeight: "1000" }).resources, {
    blockIO: { weight: 1000 },
  });
  assertBad(() => resourcesFromFlags({ blkioWeight: "1001" }), "blkio-weight", "1001");
  assertBad(() => resourcesFromFlags({ blkioWeight: "9" }), "blkio-weight", "9");
  assertBad(() => resourcesFromFlags({ blkioWeight: "4294967306" }), "blkio-weight", "4294967306");
});

Deno.test("resource flags: --cpuset-* and --ulimit refuse numbers past their range", () => {
  assertBad(
    () => resourcesFromFlags({ cpusetCpus: "0-99999999999999999999" }),
    "cpuset-cpus",
    "0-99999999999999999999",
  );
  assertBad(() => resourcesFromFlags({ cpusetMems: "4294967296" }), "cpuset-mems", "4294967296");
  assertBad(() => resourcesFromFlags({ cpusetCpus: "-1" }), "cpuset-cpus", "-1");
  assert.deepEqual(parseUlimit("nofile=9007199254740991"), {
    type: "RLIMIT_NOFILE",
    soft: Number.MAX_SAFE_INTEGER,
    hard: Number.MAX_SAFE_INTEGER,
  });
  assertBad(() => parseUlimit("nofile=9007199254740993"), "ulimit", "nofile=9007199254740993");
  assertBad(
    () => parseUlimit("nofile=18446744073709551616"),
    "ulimit",
    "nofile=18446744073709551616",
  );
  assertBad(() => parseUlimit("nofile=1.5"), "ulimit", "nofile=1.5");
  assertBad(() => parseUlimit("nofile=-2"), "ulimit", "nofile=-2");
  assertBad(() => parseUlimit("nofile=1e3"), "ulimit", "nofile=1e3");
});
