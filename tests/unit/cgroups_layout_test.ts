import assert from "node:assert/strict";
import { detectCgroupLayout } from "../../lib/cgroups/cgroup.ts";
import { parseProcCgroup } from "../../lib/cgroups/layout.ts";

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
