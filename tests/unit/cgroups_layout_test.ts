import assert from "node:assert/strict";
import { detectCgroupLayout } from "../../lib/cgroups/cgroup.ts";
import { ownProcsFile, parseProcCgroup, warmAttachEarly } from "../../lib/cgroups/layout.ts";

Deno.test("cgroups layout: /proc/self/cgroup of a hybrid host", () => {
  const text = [
    "9:name=systemd:/",
    "4:memory:/process_api/39b0",
    "2:cpu,cpuacct:/user.slice",
    "0::/",
    "",
  ].join("\n");
  assert.deepEqual(parseProcCgroup(text), [
    { id: 9, controllers: [], path: "/" },
    { id: 4, controllers: ["memory"], path: "/process_api/39b0" },
    { id: 2, controllers: ["cpu", "cpuacct"], path: "/user.slice" },
    { id: 0, controllers: [], path: "/" },
  ]);
});

Deno.test("cgroups layout: a pure v2 host has only the 0:: line", () => {
  assert.deepEqual(parseProcCgroup("0::/user.slice/user-0.slice/session-1.scope\n"), [
    { id: 0, controllers: [], path: "/user.slice/user-0.slice/session-1.scope" },
  ]);
});

Deno.test("cgroups layout: detected from the interface files of fake mounts", () => {
  const root = Deno.makeTempDirSync({ prefix: "fake-cgroupfs-" });
  try {
    Deno.mkdirSync(`${root}/memory`);
    assert.equal(detectCgroupLayout(root), "v1");
    Deno.mkdirSync(`${root}/unified`);
    Deno.writeTextFileSync(`${root}/unified/cgroup.controllers`, "hugetlb\n");
    assert.equal(detectCgroupLayout(root), "hybrid");
    Deno.writeTextFileSync(`${root}/cgroup.controllers`, "cpu memory pids\n");
    assert.equal(detectCgroupLayout(root), "v2");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("cgroups layout: the host's answer agrees with its mount table", () => {
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f.length > 4)
    .map((f) => ({ point: f[4], type: f[f.indexOf("-") + 1] }));
  const typeAt = (p: string) => mounts.findLast((m) => m.point === p)?.type;
  const expected = typeAt("/sys/fs/cgroup") === "cgroup2"
    ? "v2"
    : typeAt("/sys/fs/cgroup/unified") === "cgroup2"
    ? "hybrid"
    : "v1";
  assert.equal(detectCgroupLayout(), expected);
});

Deno.test("cgroups layout: the own cgroup.procs file the early attach warm-up writes", () => {
  const hybrid = parseProcCgroup("9:name=systemd:/\n4:memory:/process_api/39b0\n0::/\n");
  assert.equal(ownProcsFile(hybrid, "/r"), "/r/memory/process_api/39b0/cgroup.procs");
  const noMemory = parseProcCgroup("3:cpu,cpuacct:/a/\n2:pids:/\n0::/\n");
  assert.equal(ownProcsFile(noMemory, "/r"), "/r/cpu/a/cgroup.procs");
  assert.equal(
    ownProcsFile(parseProcCgroup("0::/user.slice\n"), "/r"),
    "/r/user.slice/cgroup.procs",
  );
  assert.equal(ownProcsFile(parseProcCgroup("0::/\n"), "/r"), "/r/cgroup.procs");
  assert.equal(ownProcsFile([], "/r"), undefined);
});

Deno.test("cgroups layout: the early attach warm-up leaves this process where it was", async () => {
  const before = Deno.readTextFileSync("/proc/self/cgroup");
  const file = ownProcsFile(parseProcCgroup(before));
  assert.ok(file && Deno.statSync(file).isFile, `no cgroup.procs at ${file}`);
  warmAttachEarly();
  // The write runs on a worker thread: give it the longest grace period seen (25 ms) and more.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(Deno.readTextFileSync("/proc/self/cgroup"), before);
  if (Deno.uid() === 0) {
    assert.ok(Deno.readTextFileSync(file).split("\n").includes(String(Deno.pid)));
  }
});
