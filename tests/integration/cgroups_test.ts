/**
 * The cgroup concern against the real kernel. The limit tests run on the
 * host's own layout (its v1 controllers on a hybrid host like the ones
 * here, v2 on a pure v2 host). The v2 mechanics (subtree_control down the
 * path, no internal processes, cgroup.kill) are also tested on a hybrid
 * host's cgroup2 hierarchy at /sys/fs/cgroup/unified, which has no memory
 * or cpu controller. Each test removes its cgroups and checks none is left.
 */

import assert from "node:assert/strict";
import {
  type ContainerCgroup,
  createCgroup,
  detectCgroupLayout,
} from "../../lib/cgroups/cgroup.ts";
import { joinCgroupsOf } from "../../lib/cgroups/join.ts";
import { parseProcCgroup } from "../../lib/cgroups/layout.ts";
import { ContainerError } from "../../lib/errors.ts";
import { IS_ROOT, processesWith, waitFor } from "./helpers.ts";

const ROOT = "/sys/fs/cgroup";
const MiB = 1024 * 1024;
const LAYOUT = detectCgroupLayout();
const V2_ROOT = LAYOUT === "v2" ? ROOT : `${ROOT}/unified`;
const HAS_V2 = LAYOUT !== "v1";

let serial = 0;
/** A container id no other test run uses. */
function uniqueId(what: string): string {
  return `it-${what}-${Deno.pid}-${serial++}`;
}

/** Every directory under the cgroup mounts whose name contains `name`. */
function leftovers(name: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory) continue;
      const path = `${dir}/${e.name}`;
      if (e.name.includes(name)) found.push(path);
      if (depth < 6) walk(path, depth + 1);
    }
  };
  walk(ROOT, 0);
  return found;
}

/** `/bin/sh -c script` with the script's first `read x` waiting for release(). */
class Held {
  readonly child: Deno.ChildProcess;
  #stdinClosed = false;

  constructor(script: string) {
    this.child = new Deno.Command("/bin/sh", {
      args: ["-c", script],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  get pid(): number {
    return this.child.pid;
  }

  async release(): Promise<void> {
    const w = this.child.stdin.getWriter();
    await w.write(new TextEncoder().encode("go\n"));
    await w.close().catch(() => {});
    this.#stdinClosed = true;
  }

  /** Waits for the exit; kills it first when `kill` (a test that failed half-way). */
  async done(kill = false): Promise<Deno.CommandStatus> {
    if (kill) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* exited */ }
    }
    if (!this.#stdinClosed) await this.child.stdin.close().catch(() => {});
    return await this.child.status;
  }
}

/** The cgroup paths of a process, by controller ("" for v2). */
function cgroupsOf(pid: number | "self"): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of parseProcCgroup(Deno.readTextFileSync(`/proc/${pid}/cgroup`))) {
    if (m.id === 0) out.set("", m.path);
    for (const c of m.controllers) out.set(c, m.path);
  }
  return out;
}

function read(path: string): string {
  return Deno.readTextFileSync(path).trim();
}

function v1Dir(paths: readonly string[], controller: string): string {
  const dir = paths.find((p) => p.startsWith(`${ROOT}/${controller}/`));
  assert.ok(dir, `no ${controller} directory in ${paths.join(", ")}`);
  return dir;
}

/** The directory holding `controller`'s files: its v1 hierarchy's, or the one v2 cgroup. */
function dirOf(cg: ContainerCgroup, controller: string): string {
  return cg.version === "v2" ? cg.paths[0] : v1Dir(cg.paths, controller);
}

/** The file of a limit on this host: `v1` in the controller's hierarchy, or `v2`. */
function limitFile(cg: ContainerCgroup, controller: string, v1: string, v2: string): string {
  return `${dirOf(cg, controller)}/${cg.version === "v2" ? v2 : v1}`;
}

/** The runtime's own cgroup directory for `controller`: where its containers go by default. */
function ownDir(controller: string): string {
  if (LAYOUT === "v2") {
    let own = cgroupsOf("self").get("")!;
    if (own.endsWith("/minicontainer.init")) own = own.slice(0, own.lastIndexOf("/"));
    return own === "/" ? ROOT : `${ROOT}${own}`;
  }
  const own = cgroupsOf("self").get(controller)!;
  return own === "/" ? `${ROOT}/${controller}` : `${ROOT}/${controller}${own}`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A test on this host's own layout (v1 controllers on a hybrid host). */
function hostTest(name: string, fn: () => Promise<void> | void): void {
  Deno.test({ name: `cgroups ${LAYOUT} (real kernel): ${name}`, ignore: !IS_ROOT, fn });
}

/** Registered only where v1 hierarchies exist: a pure v2 host has nothing to test it on. */
function v1OnlyTest(name: string, fn: () => Promise<void> | void): void {
  if (LAYOUT !== "v2") hostTest(name, fn);
}

hostTest("a memory limit is written and a real process joins the new cgroup", async () => {
  const id = uniqueId("mem");
  const expectedDir = `${ownDir("memory")}/minicontainer-${id}`;
  const warnings: string[] = [];
  const cg = createCgroup(id, {
    memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 128 * MiB },
  }, { warn: (s) => warnings.push(s) });
  const held = new Held("read x");
  try {
    assert.equal(cg.version, LAYOUT === "v2" ? "v2" : "v1");
    // Under the runtime's own cgroup, not the hierarchy's root.
    assert.equal(dirOf(cg, "memory"), expectedDir);
    const file = (v1: string, v2: string) => read(limitFile(cg, "memory", v1, v2));
    assert.equal(file("memory.limit_in_bytes", "memory.max"), String(64 * MiB));
    assert.equal(file("memory.soft_limit_in_bytes", "memory.low"), String(32 * MiB));
    const swapFile = limitFile(cg, "memory", "memory.memsw.limit_in_bytes", "memory.swap.max");
    if (exists(swapFile)) {
      // v1 limits memory+swap, v2 swap alone.
      assert.equal(read(swapFile), String(cg.version === "v2" ? 64 * MiB : 128 * MiB));
      assert.deepEqual(warnings, []);
    } else {
      assert.deepEqual(warnings.length, 1);
      assert.ok(warnings[0].includes(swapFile.slice(swapFile.lastIndexOf("/") + 1)), warnings[0]);
    }

    cg.addProcess(held.pid);
    const joined = cgroupsOf(held.pid);
    for (const dir of cg.paths) {
      if (cg.version === "v2") assert.equal(`${ROOT}${joined.get("")}`, dir);
      else {
        const controller = dir.slice(ROOT.length + 1).split("/")[0];
        assert.equal(`${ROOT}/${controller}${joined.get(controller)}`, dir);
      }
    }
    assert.ok(read(`${expectedDir}/cgroup.procs`).split("\n").includes(String(held.pid)));

    // destroy() with the process still inside: killed, every directory gone.
    cg.destroy();
    assert.equal((await held.done()).signal, "SIGKILL");
    for (const dir of cg.paths) assert.equal(exists(dir), false, dir);
    assert.deepEqual(leftovers(id), []);
    cg.destroy(); // idempotent
  } finally {
    cg.destroy();
    await held.done(true);
  }
});

hostTest("a 64 MiB limit gets a process that allocates 200 MiB OOM-killed", async () => {
  const id = uniqueId("oom");
  const python = new TextDecoder().decode(
    (await new Deno.Command("python3", { args: ["-c", "import sys; print(sys.executable)"] })
      .output()).stdout,
  ).trim();
  const cg = createCgroup(id, { memory: { limit: 64 * MiB, swap: 64 * MiB } }, {});
  const held = new Held(`read x; exec ${python} -c 'b = b"x" * (200 * 1024 * 1024)'`);
  try {
    cg.addProcess(held.pid);
    assert.equal(cg.stats().oomKilled, false);
    await held.release();
    const status = await held.done();
    assert.equal(status.signal, "SIGKILL");
    assert.equal(status.code, 137);
    const stats = cg.stats();
    assert.equal(stats.oomKilled, true);
    assert.equal(stats.memoryLimitBytes, 64 * MiB);
    // memory.peak came with Linux 5.19; v1 always has max_usage_in_bytes.
    if (cg.version === "v1" || exists(`${cg.paths[0]}/memory.peak`)) {
      const peak = stats.memoryPeakBytes!;
      assert.ok(peak > 32 * MiB && peak <= 64 * MiB, `peak ${peak}`);
    }
    assert.ok(stats.cpuUsageUsec! > 0);
  } finally {
    cg.destroy();
    await held.done(true);
  }
  assert.deepEqual(leftovers(id), []);
});

hostTest("a pids limit of 16 stops a fork bomb; destroy still removes everything", async () => {
  const id = uniqueId("pids");
  const cg = createCgroup(id, { pids: { limit: 16 } }, {});
  // The shell keeps a sleep and waits for it, so the cgroup is not empty at destroy().
  const held = new Held("read x; sleep 1000 & f() { f | f & }; f; wait");
  try {
    cg.addProcess(held.pid);
    await held.release();
    const pids = dirOf(cg, "pids");
    const hitMax = () => Number(/max (\d+)/.exec(read(`${pids}/pids.events`))?.[1] ?? 0) > 0;
    const end = Date.now() + 10_000;
    while (!hitMax() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.ok(hitMax(), "no fork was refused");
    for (let i = 0; i < 10; i++) {
      assert.ok(Number(read(`${pids}/pids.current`)) <= 16);
      await new Promise((r) => setTimeout(r, 20));
    }
    // The host still forks.
    assert.equal((await new Deno.Command("/bin/true").output()).code, 0);
    assert.ok(Number(read(`${pids}/pids.current`)) >= 2);
    cg.destroy();
    assert.equal((await held.done()).signal, "SIGKILL");
  } finally {
    cg.destroy();
    await held.done(true);
  }
  assert.deepEqual(leftovers(id), []);
});

hostTest("a quota of 0.2 CPU keeps a busy loop near a fifth of one CPU", async () => {
  const id = uniqueId("cpu");
  const cg = createCgroup(id, { cpu: { quota: 20000, period: 100000 } }, {});
  const held = new Held("read x; while :; do :; done");
  try {
    if (cg.version === "v2") assert.equal(read(`${cg.paths[0]}/cpu.max`), "20000 100000");
    else {
      assert.equal(read(`${v1Dir(cg.paths, "cpu")}/cpu.cfs_quota_us`), "20000");
      assert.equal(read(`${v1Dir(cg.paths, "cpu")}/cpu.cfs_period_us`), "100000");
    }
    cg.addProcess(held.pid);
    await held.release();
    const start = performance.now();
    const used0 = cg.stats().cpuUsageUsec!;
    await new Promise((r) => setTimeout(r, 2000));
    const share = (cg.stats().cpuUsageUsec! - used0) / ((performance.now() - start) * 1000);
    // Generous band around 0.2: without the quota the loop takes a whole CPU.
    assert.ok(share > 0.1 && share < 0.35, `the loop used ${share.toFixed(3)} of a CPU`);
  } finally {
    cg.destroy();
    await held.done(true);
  }
  assert.deepEqual(leftovers(id), []);
});

hostTest("cpu, cpuset, pids and block I/O limits land in their files", async () => {
  const id = uniqueId("files");
  const warnings: string[] = [];
  const cg = createCgroup(id, {
    cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0", mems: "0" },
    pids: { limit: 16 },
    blockIO: { weight: 300 },
  }, { warn: (s) => warnings.push(s) });
  const held = new Held("read x");
  try {
    const v2 = cg.version === "v2";
    const expect = (controller: string, v1: string, v2: string, value: string) =>
      assert.equal(read(limitFile(cg, controller, v1, v2)), value);
    expect("cpu", "cpu.shares", "cpu.weight", v2 ? "20" : "512");
    expect("cpu", "cpu.cfs_quota_us", "cpu.max", v2 ? "50000 100000" : "50000");
    expect("cpuset", "cpuset.cpus", "cpuset.cpus", "0");
    expect("cpuset", "cpuset.mems", "cpuset.mems", "0");
    expect("pids", "pids.max", "pids.max", "16");
    // Whichever proportional-weight file the kernel has (CFQ's, BFQ's, io.cost's).
    const io = dirOf(cg, v2 ? "io" : "blkio");
    const weights: [string, string][] = v2
      ? [["io.bfq.weight", "300"], ["io.weight", "default 2930"]]
      : [["blkio.weight", "300"], ["blkio.bfq.weight", "300"]];
    const present = weights.find(([f]) => exists(`${io}/${f}`));
    if (present) assert.equal(read(`${io}/${present[0]}`), present[1]);
    else assert.match(warnings.join("\n"), /block I\/O weight 300 not applied/);
    assert.deepEqual(warnings.filter((w) => !w.includes("block I/O")), []);
    // On v1 the attach works only because cpus and mems were set first.
    cg.addProcess(held.pid);
    assert.equal(read(`/proc/${held.pid}/status`).match(/Cpus_allowed_list:\s*(\S+)/)?.[1], "0");
  } finally {
    cg.destroy();
    await held.done(true);
  }
  assert.deepEqual(leftovers(id), []);
});

hostTest("a value the kernel refuses: ContainerError with path and errno, nothing left", () => {
  const id = uniqueId("refused");
  assert.throws(
    () => createCgroup(id, { memory: { limit: 64 * MiB }, cpu: { cpus: "0-4000" } }, {}),
    (e: unknown) => {
      assert.ok(e instanceof ContainerError);
      // EINVAL or ERANGE, depending on the kernel.
      assert.ok(e.errno === 22 || e.errno === 34, `errno ${e.errno}`);
      assert.ok(e.path!.endsWith(`/minicontainer-${id}/cpuset.cpus`), e.path);
      assert.match(
        e.message,
        /^write "0-4000" to \S+: (Invalid argument|Numerical result out of range)$/,
      );
      return true;
    },
  );
  assert.deepEqual(leftovers(id), []);
});

hostTest("unified (v2) limits: written on v2, a warning naming them on v1", () => {
  const id = uniqueId("unified");
  const warnings: string[] = [];
  const cg = createCgroup(id, { unified: { "memory.high": "50000000" } }, {
    warn: (s) => warnings.push(s),
  });
  try {
    if (cg.version === "v2") {
      assert.equal(read(`${cg.paths[0]}/memory.high`), "50000000");
      assert.deepEqual(warnings, []);
    } else {
      assert.deepEqual(warnings, [
        "unified limit memory.high not applied: this host runs cgroup v1",
      ]);
    }
  } finally {
    cg.destroy();
  }
  assert.deepEqual(leftovers(id), []);
});

v1OnlyTest(
  "--cgroup-parent: created below it in every hierarchy, and removed with it",
  async () => {
    const id = uniqueId("parent");
    const parent = `mc-itest-parent-${Deno.pid}`;
    // An existing parent with a process of its own in the memory hierarchy:
    // it must be used, not emptied, and left in place.
    const busy = `${ROOT}/memory/${parent}`;
    Deno.mkdirSync(busy);
    const resident = new Held("read x");
    const held = new Held("read x");
    try {
      Deno.writeTextFileSync(`${busy}/cgroup.procs`, String(resident.pid));
      const cg = createCgroup(id, { memory: { limit: 64 * MiB }, cpu: { cpus: "0" } }, {
        parent: `/${parent}/jobs`,
      });
      try {
        assert.equal(v1Dir(cg.paths, "memory"), `${busy}/jobs/minicontainer-${id}`);
        // New cpuset parents inherit the CPUs and memory nodes of theirs.
        for (const file of ["cpuset.cpus", "cpuset.mems"]) {
          assert.equal(
            read(`${ROOT}/cpuset/${parent}/jobs/${file}`),
            read(`${ROOT}/cpuset/${file}`),
          );
        }
        cg.addProcess(held.pid);
        assert.equal(cgroupsOf(held.pid).get("cpuset"), `/${parent}/jobs/minicontainer-${id}`);
      } finally {
        cg.destroy();
      }
      assert.equal((await held.done()).signal, "SIGKILL");
      assert.deepEqual(leftovers(parent), [busy]);
      assert.equal(read(`${busy}/cgroup.procs`), String(resident.pid));
    } finally {
      await held.done(true);
      await resident.done(true);
      await removeWhenEmpty(busy);
    }
    assert.deepEqual(leftovers(parent), []);
  },
);

hostTest("a cgroup left by a crashed run with the same id is emptied and reused", async () => {
  const id = uniqueId("stale");
  const stale = `${ownDir("memory")}/minicontainer-${id}`;
  Deno.mkdirSync(stale);
  const old = new Held("read x");
  try {
    Deno.writeTextFileSync(`${stale}/cgroup.procs`, String(old.pid));
    const cg = createCgroup(id, { memory: { limit: 64 * MiB } }, {});
    try {
      assert.equal((await old.done()).signal, "SIGKILL");
      assert.equal(dirOf(cg, "memory"), stale);
      assert.equal(
        read(limitFile(cg, "memory", "memory.limit_in_bytes", "memory.max")),
        String(64 * MiB),
      );
    } finally {
      cg.destroy();
    }
  } finally {
    await old.done(true);
    await removeWhenEmpty(stale);
  }
  assert.deepEqual(leftovers(id), []);
});

hostTest("exec: a second process joins every cgroup the container's process is in", async () => {
  const id = uniqueId("join");
  const cg = createCgroup(id, { memory: { limit: 64 * MiB }, pids: { limit: 16 } }, {});
  const init = new Held("read x");
  const joiner = new Held("read x");
  try {
    cg.addProcess(init.pid);
    joinCgroupsOf(init.pid, joiner.pid);
    assert.deepEqual(cgroupsOf(joiner.pid), cgroupsOf(init.pid));
    assert.equal(read(`${dirOf(cg, "pids")}/pids.current`), "2");
    cg.destroy();
    assert.equal((await joiner.done()).signal, "SIGKILL");
  } finally {
    cg.destroy();
    await init.done(true);
    await joiner.done(true);
  }
  // The container gone, joining names what failed.
  assert.throws(() => joinCgroupsOf(init.pid, Deno.pid), (e: unknown) => {
    assert.ok(e instanceof ContainerError);
    assert.equal(e.path, `/proc/${init.pid}/cgroup`);
    return true;
  });
  assert.deepEqual(leftovers(id), []);
});

/** Removes a test's own cgroup directory once its killed processes have left it. */
async function removeWhenEmpty(dir: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      Deno.removeSync(dir);
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

// ---- v2, real kernel ----------------------------------------------------

/** A controller the host's v2 hierarchy offers, with a limit file of it to write. */
function v2Probe(): { controller: string; file: string; value: string } | undefined {
  let controllers: string[];
  try {
    controllers = read(`${V2_ROOT}/cgroup.controllers`).split(/\s+/);
  } catch {
    return undefined;
  }
  if (controllers.includes("pids")) return { controller: "pids", file: "pids.max", value: "20" };
  if (controllers.includes("hugetlb")) {
    return { controller: "hugetlb", file: "hugetlb.2MB.max", value: String(4 * MiB) };
  }
  return undefined;
}

const PROBE = v2Probe();

function v2Test(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: `cgroups v2 (real kernel, ${V2_ROOT}): ${name}`,
    ignore: !IS_ROOT || !HAS_V2 || PROBE === undefined,
    fn,
  });
}

/** A parent cgroup holding a process, as the runtime's own cgroup does. */
async function withBusyParent(
  fn: (parent: string, resident: Held) => Promise<void> | void,
): Promise<void> {
  const parent = `mc-itest-v2-${Deno.pid}-${serial++}`;
  const dir = `${V2_ROOT}/${parent}`;
  const rootEnabled = read(`${V2_ROOT}/cgroup.subtree_control`).split(/\s+/);
  Deno.mkdirSync(dir);
  const resident = new Held("read x");
  try {
    Deno.writeTextFileSync(`${dir}/cgroup.procs`, String(resident.pid));
    await fn(parent, resident);
  } finally {
    await resident.done(true);
    for (const d of [`${dir}/minicontainer.init`, dir]) await removeWhenEmpty(d);
    if (PROBE && !rootEnabled.includes(PROBE.controller)) {
      try {
        Deno.writeTextFileSync(`${V2_ROOT}/cgroup.subtree_control`, `-${PROBE.controller}`);
      } catch { /* another user of the hierarchy enabled it meanwhile */ }
    }
  }
  assert.deepEqual(leftovers(parent), []);
}

v2Test("controllers enabled down the path; the parent's processes move to a leaf", async () => {
  await withBusyParent(async (parent, resident) => {
    const { controller, file, value } = PROBE!;
    const id = uniqueId("v2");
    const warnings: string[] = [];
    const cg = createCgroup(id, { unified: { [file]: value } }, {
      root: V2_ROOT,
      parent: `/${parent}`,
      warn: (s) => warnings.push(s),
    });
    // The sleep starts once the shell is in the cgroup: one forked before would stay outside.
    const held = new Held("read x; sleep 1007 & wait");
    try {
      assert.equal(cg.version, "v2");
      const dir = `${V2_ROOT}/${parent}/minicontainer-${id}`;
      assert.deepEqual(cg.paths, [dir]);
      assert.deepEqual(warnings, []);
      assert.ok(
        read(`${V2_ROOT}/${parent}/cgroup.subtree_control`).split(" ").includes(controller),
      );
      assert.equal(read(`${dir}/${file}`), value);
      // "No internal processes": the resident had to leave for the leaf.
      assert.equal(cgroupsOf(resident.pid).get(""), `/${parent}/minicontainer.init`);

      cg.addProcess(held.pid);
      assert.equal(cgroupsOf(held.pid).get(""), `/${parent}/minicontainer-${id}`);
      await held.release();
      await waitFor(() => processesWith("sleep 1007").length === 1, 5000, "the background sleep");
      assert.equal(cg.stats().oomKilled, false);
      assert.equal(typeof cg.stats().cpuUsageUsec, "number");

      // cgroup.kill takes the shell and its background sleep.
      cg.destroy();
      assert.equal((await held.done()).signal, "SIGKILL");
      await waitFor(() => processesWith("sleep 1007").length === 0, 5000, "the sleep's end");
      assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
      cg.destroy();
    } finally {
      cg.destroy();
      await held.done(true);
    }
    assert.deepEqual(leftovers(id), []);
  });
});

v2Test("without limits, the caller's processes are left where they are", async () => {
  await withBusyParent((parent, resident) => {
    const id = uniqueId("v2plain");
    const cg = createCgroup(id, {}, { root: V2_ROOT, parent: `/${parent}` });
    try {
      assert.equal(cgroupsOf(resident.pid).get(""), `/${parent}`);
      assert.deepEqual(cg.paths, [`${V2_ROOT}/${parent}/minicontainer-${id}`]);
    } finally {
      cg.destroy();
    }
    assert.deepEqual(leftovers(id), []);
  });
});

Deno.test({
  name: "cgroups (real kernel): bad resources create nothing",
  ignore: !IS_ROOT,
  fn() {
    const id = uniqueId("bad");
    assert.throws(
      () => createCgroup(id, { memory: { swap: 128 * MiB } }, {}),
      /needs a memory limit/,
    );
    assert.deepEqual(leftovers(id), []);
  },
});
