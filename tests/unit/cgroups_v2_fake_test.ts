/**
 * The cgroup v2 driver against a FAKE cgroup2 mount: a temporary directory
 * laid out like /sys/fs/cgroup on a pure v2 host, for hosts (like the
 * hybrid ones here) with no v2 controller to test on. The fake cannot play
 * the kernel's part of mkdir (filling a new cgroup with interface files),
 * so each test makes the container's directory with those files first, as
 * a crashed run would have left it; the driver reuses it the way runc does.
 * Real v2 behaviour (moves, cgroup.kill, rmdir) is in
 * tests/integration/cgroups_test.ts on the host's v2 hierarchy.
 */

import assert from "node:assert/strict";
import { createCgroup } from "../../lib/cgroups/cgroup.ts";
import { parseProcCgroup } from "../../lib/cgroups/layout.ts";
import { ContainerError } from "../../lib/errors.ts";
import type { Resources } from "../../lib/spec.ts";

const MiB = 1024 * 1024;

/** The interface files (with their initial values) of a new cgroup2 directory. */
const CGROUP_FILES: Record<string, string> = {
  "cgroup.controllers": "",
  "cgroup.subtree_control": "",
  "cgroup.procs": "",
  "cgroup.kill": "",
  "cgroup.events": "populated 0\nfrozen 0\n",
  "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
  "cpu.weight": "100\n",
  "cpu.max": "max 100000\n",
  "cpuset.cpus": "\n",
  "cpuset.mems": "\n",
  "io.weight": "default 100\n",
  "memory.max": "max\n",
  "memory.low": "0\n",
  "memory.high": "max\n",
  "memory.swap.max": "max\n",
  "memory.peak": "0\n",
  "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
  "pids.max": "max\n",
};

/** A fake cgroup2 mount: root files of a v2 host with these controllers. */
function fakeMount(controllers = "cpuset cpu io memory hugetlb pids"): string {
  const root = Deno.makeTempDirSync({ prefix: "fake-cgroup2-" });
  Deno.writeTextFileSync(`${root}/cgroup.controllers`, `${controllers}\n`);
  Deno.writeTextFileSync(`${root}/cgroup.subtree_control`, "");
  Deno.writeTextFileSync(`${root}/cgroup.procs`, "");
  return root;
}

/** Plays the kernel's part of mkdir in the fake: the directory and its interface files. */
function fakeCgroup(dir: string, files: Record<string, string> = CGROUP_FILES): void {
  Deno.mkdirSync(dir, { recursive: true });
  for (const [name, value] of Object.entries(files)) {
    Deno.writeTextFileSync(`${dir}/${name}`, value);
  }
}

/** Every file under `root` with its content, by relative path. */
function snapshot(root: string, dir = root, out: Record<string, string> = {}) {
  for (const e of Deno.readDirSync(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) snapshot(root, path, out);
    else out[path.slice(root.length + 1)] = Deno.readTextFileSync(path);
  }
  return out;
}

function withFake(fn: (root: string) => void, controllers?: string): void {
  const root = fakeMount(controllers);
  try {
    fn(root);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

const ALL: Resources = {
  memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 128 * MiB },
  cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0-1", mems: "0" },
  pids: { limit: 16 },
  blockIO: { weight: 500 },
  unified: { "memory.high": "50000000" },
};

Deno.test("cgroups v2 on a fake mount: every limit lands in exactly its file, nothing else changes", () => {
  withFake((root) => {
    const name = "minicontainer-fake1";
    fakeCgroup(`${root}/${name}`);
    const before = snapshot(root);
    const warnings: string[] = [];
    const cg = createCgroup("fake1", ALL, { root, parent: "/", warn: (s) => warnings.push(s) });
    assert.deepEqual(warnings, []);
    assert.equal(cg.version, "v2");
    assert.deepEqual(cg.paths, [`${root}/${name}`]);
    assert.deepEqual(snapshot(root), {
      ...before,
      "cgroup.subtree_control": "+cpu +cpuset +io +memory +pids",
      [`${name}/memory.max`]: "67108864",
      [`${name}/memory.low`]: "33554432",
      [`${name}/memory.swap.max`]: "67108864",
      [`${name}/memory.high`]: "50000000",
      [`${name}/cpu.weight`]: "20",
      [`${name}/cpu.max`]: "50000 100000",
      [`${name}/cpuset.cpus`]: "0-1",
      [`${name}/cpuset.mems`]: "0",
      [`${name}/pids.max`]: "16",
      [`${name}/io.weight`]: "default 4950",
    });
    cg.addProcess(4242);
    assert.equal(Deno.readTextFileSync(`${root}/${name}/cgroup.procs`), "4242");
  });
});

Deno.test("cgroups v2 on a fake mount: io.bfq.weight takes blkio's range when BFQ has it", () => {
  withFake((root) => {
    const dir = `${root}/minicontainer-bfq`;
    fakeCgroup(dir, { ...CGROUP_FILES, "io.bfq.weight": "default 100\n" });
    createCgroup("bfq", { blockIO: { weight: 300 } }, { root, parent: "/", warn: () => {} });
    assert.equal(Deno.readTextFileSync(`${dir}/io.bfq.weight`), "300");
    assert.equal(Deno.readTextFileSync(`${dir}/io.weight`), CGROUP_FILES["io.weight"]);
  });
});

Deno.test("cgroups v2 on a fake mount: controllers already enabled are not written again", () => {
  withFake((root) => {
    Deno.writeTextFileSync(`${root}/cgroup.subtree_control`, "cpu memory pids\n");
    fakeCgroup(`${root}/minicontainer-on`);
    const warnings: string[] = [];
    createCgroup("on", { memory: { limit: 64 * MiB }, pids: { limit: 5 } }, {
      root,
      parent: "/",
      warn: (s) => warnings.push(s),
    });
    assert.deepEqual(warnings, []);
    assert.equal(Deno.readTextFileSync(`${root}/cgroup.subtree_control`), "cpu memory pids\n");
    assert.equal(Deno.readTextFileSync(`${root}/minicontainer-on/pids.max`), "5");
  });
});

Deno.test("cgroups v2 on a fake mount: a controller the host lacks is a warning naming the limit", () => {
  withFake((root) => {
    const files = { ...CGROUP_FILES };
    delete files["pids.max"];
    fakeCgroup(`${root}/minicontainer-nopids`, files);
    const warnings: string[] = [];
    createCgroup("nopids", { memory: { limit: 64 * MiB }, pids: { limit: 16 } }, {
      root,
      parent: "/",
      warn: (s) => warnings.push(s),
    });
    assert.deepEqual(warnings, [
      "pids limit 16 not applied: the pids cgroup controller is not available on this host",
    ]);
    assert.equal(Deno.readTextFileSync(`${root}/cgroup.subtree_control`), "+memory");
    assert.equal(Deno.readTextFileSync(`${root}/minicontainer-nopids/memory.max`), "67108864");
  }, "cpuset cpu io memory");
});

Deno.test("cgroups v2 on a fake mount: a missing swap file is a warning naming it", () => {
  withFake((root) => {
    const files = { ...CGROUP_FILES };
    delete files["memory.swap.max"];
    fakeCgroup(`${root}/minicontainer-noswap`, files);
    const warnings: string[] = [];
    createCgroup("noswap", { memory: { limit: 64 * MiB, swap: 128 * MiB } }, {
      root,
      parent: "/",
      warn: (s) => warnings.push(s),
    });
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /memory\+swap limit 134217728 not applied: .* has no memory\.swap\.max/,
    );
  });
});

Deno.test("cgroups v2 on a fake mount: without --cgroup-parent, under the runtime's own cgroup", () => {
  withFake((root) => {
    const own = parseProcCgroup(Deno.readTextFileSync("/proc/self/cgroup"))
      .find((m) => m.id === 0)!.path.replace(/\/$/, "");
    // The runtime's cgroup hands memory to its children, so ci has it to give on.
    fakeCgroup(`${root}${own}`, { ...CGROUP_FILES, "cgroup.subtree_control": "memory\n" });
    fakeCgroup(`${root}${own}/ci`, { ...CGROUP_FILES, "cgroup.controllers": "memory\n" });
    fakeCgroup(`${root}${own}/ci/minicontainer-own`);
    const cg = createCgroup("own", { memory: { limit: 64 * MiB } }, { root, parent: "ci" });
    assert.deepEqual(cg.paths, [`${root}${own}/ci/minicontainer-own`]);
    assert.equal(Deno.readTextFileSync(`${root}${own}/ci/cgroup.subtree_control`), "+memory");
    assert.equal(Deno.readTextFileSync(`${root}${own}/cgroup.subtree_control`), "memory\n");
    assert.equal(Deno.readTextFileSync(`${cg.paths[0]}/memory.max`), "67108864");
  });
});

Deno.test("cgroups v2 on a fake mount: a refused write is a ContainerError with path and errno", () => {
  withFake((root) => {
    const dir = `${root}/minicontainer-refused`;
    const files = { ...CGROUP_FILES };
    delete files["cpu.max"];
    fakeCgroup(dir, files);
    Deno.mkdirSync(`${dir}/cpu.max`); // opening it for writing fails with EISDIR
    assert.throws(
      () => createCgroup("refused", { cpu: { quota: 50000 } }, { root, parent: "/" }),
      (e: unknown) => {
        assert.ok(e instanceof ContainerError);
        assert.equal(e.path, `${dir}/cpu.max`);
        assert.equal(e.errno, 21);
        assert.equal(e.message, `write "50000 100000" to ${dir}/cpu.max: Is a directory`);
        return true;
      },
    );
  });
});

Deno.test("cgroups v2 on a fake mount: stats read memory.peak, memory.events, cpu.stat, memory.max", () => {
  withFake((root) => {
    const dir = `${root}/minicontainer-stats`;
    fakeCgroup(dir);
    const cg = createCgroup("stats", { memory: { limit: 64 * MiB } }, { root, parent: "/" });
    assert.deepEqual(cg.stats(), {
      memoryPeakBytes: 0,
      cpuUsageUsec: 0,
      oomKilled: false,
      memoryLimitBytes: 64 * MiB,
    });
    // Without usage (a run's clean-up): the OOM verdict alone.
    assert.deepEqual(cg.stats(false), { oomKilled: false });
    Deno.writeTextFileSync(`${dir}/memory.peak`, "67100000\n");
    Deno.writeTextFileSync(`${dir}/memory.events`, "low 0\nhigh 0\nmax 90\noom 1\noom_kill 1\n");
    Deno.writeTextFileSync(`${dir}/cpu.stat`, "usage_usec 123456\nuser_usec 100000\n");
    assert.deepEqual(cg.stats(), {
      memoryPeakBytes: 67100000,
      cpuUsageUsec: 123456,
      oomKilled: true,
      memoryLimitBytes: 64 * MiB,
    });
    // An OOM kill: the limit too, for the message.
    assert.deepEqual(cg.stats(false), { oomKilled: true, memoryLimitBytes: 64 * MiB });
    Deno.writeTextFileSync(`${dir}/memory.max`, "max\n");
    assert.equal(cg.stats().memoryLimitBytes, undefined);
  });
});

Deno.test("cgroups v2 on a fake mount: destroy writes cgroup.kill, then reports what it cannot remove", () => {
  withFake((root) => {
    const dir = `${root}/minicontainer-kill`;
    fakeCgroup(dir);
    const cg = createCgroup("kill", {}, { root, parent: "/" });
    // A fake directory keeps its files, so rmdir fails where a cgroup would go.
    assert.throws(() => cg.destroy(), (e: unknown) => {
      assert.ok(e instanceof ContainerError);
      assert.equal(e.op, "remove cgroup");
      assert.equal(e.path, dir);
      assert.equal(e.errno, 39);
      return true;
    });
    assert.equal(Deno.readTextFileSync(`${dir}/cgroup.kill`), "1");
  });
});

Deno.test("cgroups v2 on a fake mount: destroy of a removed cgroup does nothing, twice", () => {
  withFake((root) => {
    const dir = `${root}/minicontainer-gone`;
    fakeCgroup(dir);
    const cg = createCgroup("gone", {}, { root, parent: "/" });
    Deno.removeSync(dir, { recursive: true });
    cg.destroy();
    cg.destroy();
    assert.equal(cg.stats().oomKilled, false);
  });
});
