// The OCI runtime's data: the create plan (no parent-death signal, the exec
// fifo last before the command), removeOps keeping references, where a
// cgroupsPath puts the cgroup, config.json checks, and the JSON of state,
// features and spec.
import assert from "node:assert/strict";
import { execHelperArgv, HOOK_FAILED, type Op, removeOps } from "../../ffi/plan.ts";
import { CLONE, K } from "../../ffi/syscalls.ts";
import { cgroupPlace } from "../../lib/container/create.ts";
import { buildJoinPlan } from "../../lib/container/join.ts";
import { buildChildPlan, cloneFlags, processAttributeOps } from "../../lib/container/plan.ts";
import { classifyMaskedPaths } from "../../lib/mounts/masks.ts";
import { prepareMounts } from "../../lib/mounts/prepare.ts";
import { loadBundle, unappliedResources } from "../../lib/oci/bundle.ts";
import { fifoReport, hookError, hookOpError } from "../../lib/oci/hook_ops.ts";
import { defaultConfig, features } from "../../lib/oci/features.ts";
import { type OciRecord, OciStore } from "../../lib/oci/state.ts";
import { unavailableCapabilities } from "../../lib/security/capabilities.ts";
import { securityOps } from "../../lib/security/process_ops.ts";
import type { Spec } from "../../lib/spec.ts";
import { processStartTime } from "../../lib/state/liveness.ts";

function bundleWith(edit: (c: Spec) => void): string {
  const dir = Deno.makeTempDirSync();
  Deno.mkdirSync(`${dir}/rootfs`);
  const c = defaultConfig();
  c.process.terminal = false;
  edit(c);
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(c));
  return dir;
}

function createPlan(spec: Spec): Op[] {
  return buildChildPlan({
    spec,
    mounts: prepareMounts(spec.mounts),
    init: false,
    securityOps: securityOps(spec, { lastCap: 40, held: (1n << 41n) - 1n }),
    created: { fifoFd: 50, readyFd: 51 },
  });
}

Deno.test("oci plan: a foreground run's create keeps every parent-death op of run's plan", () => {
  const dir = bundleWith((c) => {
    c.process.user = { uid: 1000, gid: 1000 };
    c.process.args = ["/bin/sh", "-c", "true"];
  });
  const spec = loadBundle(dir, () => {});
  const input = {
    spec,
    mounts: prepareMounts(spec.mounts),
    init: false,
    securityOps: securityOps(spec, { lastCap: 40, held: (1n << 41n) - 1n }),
  };
  const isDeath = (op: Op) =>
    op.call === "check_parent" || (op.call === "prctl" && op.args[0] === K.PR_SET_PDEATHSIG);
  const run = buildChildPlan(input).filter(isDeath).map((op) => op.label);
  const plan = buildChildPlan({
    ...input,
    created: { fifoFd: 50, readyFd: 51, parentDeath: true },
  });
  // Set first, then again (and checked) after the credential change.
  assert.ok(run.length >= 3, run.join(", "));
  assert.deepEqual(plan.filter(isDeath).map((op) => op.label), run);
  const exec = plan.findIndex((op) => op.call === "execve");
  assert.equal(plan[exec - 3].label, "wait for start on the exec fifo");
  assert.deepEqual(plan[exec - 2].args[0], { back: 1 });
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("oci plan: create sets no parent-death signal and ends in the exec fifo before execve", () => {
  const dir = bundleWith((c) => {
    c.process.user = { uid: 1000, gid: 1000 };
    c.process.args = ["/bin/sh", "-c", "true"];
  });
  const spec = loadBundle(dir, () => {});
  const plan = createPlan(spec);
  assert.ok(
    !plan.some((op) =>
      op.call === "check_parent" || (op.call === "prctl" && op.args[0] === K.PR_SET_PDEATHSIG)
    ),
    "a parent-death op is left",
  );
  const calls = plan.map((op) => op.call);
  const exec = calls.indexOf("execve");
  assert.deepEqual(calls.slice(exec - 7, exec + 1), [
    "faccessat",
    "write",
    "close",
    "fd_path",
    "openat",
    "write",
    "close",
    "execve",
  ]);
  assert.equal(plan[exec - 3].label, "wait for start on the exec fifo");
  // The fifo write refers to the fifo's open, which removeOps renumbered.
  assert.deepEqual(plan[exec - 2].args[0], { back: 1 });
  assert.equal(plan[exec - 6].args[0], 51);
  // The fifo and ready fds survive close_fds; after the seccomp filter, like runc's fifo.
  const close = plan.find((op) => op.call === "close_fds")!;
  assert.deepEqual(close.args, [50, 51]);
  assert.ok(calls.lastIndexOf("setresuid") < exec - 7);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("oci plan: removeOps keeps ref and back references on the ops they meant", () => {
  const plan: Op[] = [
    { call: "openat", args: [K.AT_FDCWD, "/a", 0, 0], label: "a" },
    { call: "check_parent", args: [], label: "drop me" },
    { call: "dup3", args: [{ back: 2 }, 0, 0], label: "uses a by back" },
    { call: "close", args: [{ ref: 0 }], label: "uses a by ref" },
  ];
  const out = removeOps(plan, (op) => op.call === "check_parent");
  assert.deepEqual(out.map((op) => op.args[0]), [K.AT_FDCWD, { back: 1 }, { ref: 0 }]);
  assert.throws(() => removeOps(plan, (op) => op.label === "a"), /refers to a removed op/);
});

Deno.test("oci cgroupsPath: the path names the cgroup itself; systemd's form becomes a scope", () => {
  assert.deepEqual(cgroupPlace("/libpod_parent/libpod-abc", "abc"), {
    parent: "/libpod_parent",
    name: "libpod-abc",
  });
  assert.deepEqual(cgroupPlace("system.slice:containerd:x", "x"), {
    parent: "/system.slice",
    name: "containerd-x.scope",
  });
  assert.deepEqual(cgroupPlace("mine", "x"), { parent: "", name: "mine" });
  assert.equal(cgroupPlace(undefined, "x"), undefined);
});

Deno.test("oci bundle: relative root, runc's default devices, mount options for the runtime, warnings", () => {
  const dir = bundleWith((c) => {
    c.mounts.push({
      destination: "/data",
      type: "bind",
      source: "data",
      options: ["tmpcopyup", "Z"],
    });
    (c.process as unknown as Record<string, unknown>).apparmorProfile = "x";
  });
  Deno.mkdirSync(`${dir}/data`);
  const warnings: string[] = [];
  const spec = loadBundle(dir, (w) => warnings.push(w));
  assert.equal(spec.root.path, `${dir}/rootfs`);
  const data = spec.mounts.find((m) => m.destination === "/data")!;
  assert.equal(data.source, `${dir}/data`);
  assert.deepEqual(data.options, ["rbind"]);
  assert.ok(spec.linux.devices!.some((d) => d.path === "/dev/null"));
  assert.ok(spec.linux.resources!.devices!.some((r) => r.allow && r.major === 1 && r.minor === 3));
  assert.ok(warnings.some((w) => /tmpcopyup/.test(w)), warnings.join("\n"));
  assert.ok(warnings.some((w) => /option Z \(SELinux relabelling\)/.test(w)), warnings.join("\n"));
  assert.ok(warnings.some((w) => /apparmorProfile/.test(w)), warnings.join("\n"));
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("oci bundle: each bad field is one sentence naming it", () => {
  const cases: [(c: Spec) => void, RegExp][] = [
    [(c) => (c.ociVersion = "2.0.0"), /ociVersion: 2.0.0 is not a 1.x/],
    [(c) => (c.process.args = []), /process.args: must name a command/],
    [(c) => (c.process.cwd = "rel"), /process.cwd: "rel" is not an absolute path/],
    [(c) => (c.process.user.uid = -1), /process.user.uid: -1 is not an unsigned/],
    [(c) => c.linux.namespaces.push({ type: "pid" }), /pid is listed twice/],
    [
      (c) => c.linux.namespaces.push({ type: "user", path: "/proc/self/ns/user" }),
      /a new pid namespace inside a user namespace joined by path \(\/proc\/self\/ns\/user\)/,
    ],
    [(c) => (c.linux.sysctl = { "vm.swappiness": "1" }), /vm.swappiness is not namespaced/],
    [(c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_NOPE" }), /unknown action/],
  ];
  for (const [edit, re] of cases) {
    const dir = bundleWith(edit);
    assert.throws(() => loadBundle(dir, () => {}), re);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("oci state: the runtime spec's state JSON, status from the init and the fifo", () => {
  const root = Deno.makeTempDirSync();
  const store = new OciStore(root);
  store.reserve("c1");
  assert.throws(() => store.reserve("c1"), /container with id exists: c1/);
  const rec: OciRecord = {
    id: "c1",
    pid: Deno.pid,
    pidStart: processStartTime(Deno.pid),
    bundle: "/b",
    rootfs: "/b/rootfs",
    created: "2026-01-01T00:00:00.000Z",
    cgroupPaths: [],
    annotations: { a: "b" },
    spec: defaultConfig(),
  };
  store.write(rec);
  assert.deepEqual(store.state(store.read("c1")), {
    ociVersion: "1.2.0",
    id: "c1",
    pid: Deno.pid,
    status: "running",
    bundle: "/b",
    rootfs: "/b/rootfs",
    created: "2026-01-01T00:00:00.000Z",
    owner: "",
    annotations: { a: "b" },
  });
  Deno.writeTextFileSync(store.fifo("c1"), "");
  assert.equal(store.status(rec), "created");
  assert.equal(store.state({ ...rec, pidStart: 1 }).status, "stopped");
  assert.equal(store.state({ ...rec, pidStart: 1 }).pid, 0);
  assert.throws(() => store.read("nope"), /container does not exist/);
  assert.throws(() => store.read("../x"), /invalid id format/);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("oci features and spec: the documents' shapes", () => {
  const f = features() as Record<string, Record<string, unknown>>;
  assert.equal(f.ociVersionMin, "1.0.0");
  assert.deepEqual(f.hooks, [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
  ]);
  assert.ok((f.mountOptions as unknown as string[]).includes("rbind"));
  assert.ok((f.linux.capabilities as string[]).includes("CAP_SYS_ADMIN"));
  assert.equal((f.linux.seccomp as { enabled: boolean }).enabled, true);
  const c = defaultConfig();
  assert.equal(c.root.path, "rootfs");
  assert.deepEqual(c.process.args, ["sh"]);
  assert.equal(c.process.terminal, true);
  assert.ok(c.linux.maskedPaths!.includes("/proc/kcore"));
  assert.ok(c.linux.namespaces.some((n) => n.type === "mount"));
});

Deno.test("oci bundle: resource fields no cgroup driver writes are named, never silently dropped", () => {
  assert.deepEqual(
    unappliedResources({
      memory: { limit: 1, swappiness: 10, disableOOMKiller: true, kernel: null },
      cpu: { shares: 2, realtimeRuntime: 5 },
      hugepageLimits: [{ pageSize: "2MB", limit: 1 }],
      network: { classID: 1 },
      blockIO: { weight: 10, throttleReadBpsDevice: [] },
      devices: [{ allow: false, access: "rwm" }],
      rdma: { mlx5_1: { hcaHandles: 3 } },
    }),
    ["cpu.realtimeRuntime", "rdma"],
  );
});

Deno.test("oci plan: namespaces joined by path: user first, files opened before any setns, pid at the clone", () => {
  const dir = bundleWith((c) => {
    c.linux.namespaces = [
      { type: "mount" },
      { type: "network", path: "/proc/self/ns/net" },
      { type: "pid", path: "/proc/self/ns/pid" },
      { type: "uts" },
      { type: "user", path: "/proc/self/ns/user" },
    ];
    c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
  });
  const warnings: string[] = [];
  const spec = loadBundle(dir, (w) => warnings.push(w));
  Deno.removeSync(dir, { recursive: true });
  assert.deepEqual(warnings, [
    "linux.uidMappings are not applied: the user namespace /proc/self/ns/user is joined, its maps are its own",
  ]);
  // Made after the join, by unshare, so that the joined user namespace owns them.
  assert.equal(cloneFlags(spec), 0);
  const plan = createPlan(spec);
  const start = plan.findIndex((op) => op.call === "wait_sync") + 1;
  assert.deepEqual(plan.slice(start, start + 7).map((op) => op.label), [
    "open user namespace /proc/self/ns/user",
    "open network namespace /proc/self/ns/net",
    "join user namespace /proc/self/ns/user",
    "join network namespace /proc/self/ns/net",
    "close /proc/self/ns/user",
    "close /proc/self/ns/net",
    "make the new namespaces",
  ]);
  assert.deepEqual(plan[start + 2].args, [{ back: 2 }, CLONE.NEWUSER]);
  assert.deepEqual(plan[start + 4].args, [{ back: 4 }]);
  assert.deepEqual(plan[start + 6].args, [CLONE.NEWNS | CLONE.NEWUTS]);
  // The pid namespace is never joined by setns in the child (only its children would move).
  assert.ok(!plan.some((op) => op.label.includes("pid namespace")));
  // Joined mount namespace: the container's root is still set up in it.
  const mountDir = bundleWith((c) => {
    c.linux.namespaces = [{ type: "mount", path: "/proc/self/ns/mnt" }];
  });
  const joinedMount = loadBundle(mountDir, () => {});
  Deno.removeSync(mountDir, { recursive: true });
  assert.ok(createPlan(joinedMount).some((op) => op.call === "pivot_root"));
  assert.equal(cloneFlags(joinedMount), 0);
});

Deno.test("oci maskedPaths: /proc and /sys by the host's kernel files, the root's own decided in the child", () => {
  const masked = classifyMaskedPaths([
    "/proc/self/status",
    "/proc/no-such-file",
    "/sys/firmware",
    "/secret",
  ]);
  assert.deepEqual(masked, [
    { path: "/proc/self/status", dir: false },
    { path: "/sys/firmware", dir: true },
    { path: "/secret" },
  ]);
  const dir = bundleWith((c) => (c.linux.maskedPaths = ["/secret"]));
  const spec = loadBundle(dir, () => {});
  Deno.removeSync(dir, { recursive: true });
  const plan = buildChildPlan({
    spec,
    mounts: prepareMounts(spec.mounts),
    init: false,
    masked: classifyMaskedPaths(spec.linux.maskedPaths!),
  });
  const mounts = plan.filter((op) => op.label.startsWith("mask /secret"));
  assert.deepEqual(mounts.map((op) => [op.label, op.args[2], op.tolerate]), [
    ["mask /secret (if a directory)", "tmpfs", ["ENOENT", "ENOTDIR"]],
    ["mask /secret (if not a directory)", null, ["ENOENT", "ENOTDIR"]],
  ]);
});

Deno.test("oci capabilities: those the runtime does not hold are named; unknown names refused", () => {
  const all = (1n << 41n) - 1n;
  const noSysResource = all & ~(1n << 24n);
  const sets = {
    bounding: ["CAP_CHOWN", "CAP_SYS_RESOURCE"],
    effective: ["sys_resource", "CAP_CHECKPOINT_RESTORE"],
  };
  assert.deepEqual(unavailableCapabilities(sets, noSysResource, 40), ["CAP_SYS_RESOURCE"]);
  // A kernel that knows capabilities up to 39 only (CHECKPOINT_RESTORE is 40).
  assert.deepEqual(unavailableCapabilities(sets, all, 39), ["CAP_CHECKPOINT_RESTORE"]);
  assert.deepEqual(unavailableCapabilities(sets, all, 40), []);
  assert.throws(
    () => unavailableCapabilities({ bounding: ["CAP_NOPE"] }, all, 40),
    /unknown capability/,
  );
  // Through config.json: an unknown name is an error (runc accepts it; the spec does not).
  const dir = bundleWith((c) => (c.process.capabilities = { bounding: ["CAP_NOPE"] }));
  assert.throws(() => loadBundle(dir, () => {}), /"CAP_NOPE": unknown capability name/);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("oci plan: no mount namespace: chroot into root.path, the fifo opened by name, mounts named", () => {
  const dir = bundleWith((c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== "mount");
  });
  const warnings: string[] = [];
  const spec = loadBundle(dir, (w) => warnings.push(w));
  Deno.removeSync(dir, { recursive: true });
  assert.deepEqual(warnings, [
    "mounts, root.readonly, linux.maskedPaths, linux.readonlyPaths not applied: without a mount " +
    "namespace of its own the container shares the host's mounts",
  ]);
  const plan = buildChildPlan({
    spec,
    mounts: prepareMounts(spec.mounts),
    init: false,
    created: { fifoFd: 50, readyFd: 51, fifoAt: { dirFd: 52, name: "exec.fifo" } },
  });
  assert.ok(!plan.some((op) => op.call === "mount" || op.call === "pivot_root"));
  const chroot = plan.findIndex((op) => op.call === "chroot");
  assert.deepEqual(plan.slice(chroot - 1, chroot + 2).map((op) => [op.call, op.args[0]]), [
    ["chdir", spec.root.path],
    ["chroot", "."],
    ["chdir", "/"],
  ]);
  assert.deepEqual(plan.find((op) => op.call === "close_fds")!.args, [50, 51, 52]);
  const wait = plan.find((op) => op.label === "wait for start on the exec fifo")!;
  assert.deepEqual(wait.args.slice(0, 2), [52, "exec.fifo"]);
  assert.ok(!plan.some((op) => op.call === "fd_path"), "/proc is not there to reopen the fifo");
});

Deno.test("oci bundle: process is optional at create (an init that never execs), required otherwise", () => {
  const dir = bundleWith((c) => delete (c as Partial<Spec>).process);
  assert.throws(() => loadBundle(dir, () => {}), /process: missing \(this command needs one\)/);
  const spec = loadBundle(dir, () => {}, { processOptional: true });
  Deno.removeSync(dir, { recursive: true });
  assert.deepEqual(spec.process.args, []);
  const plan = createPlan(spec);
  assert.ok(!plan.some((op) => op.call === "execve" || op.call === "faccessat"));
  assert.equal(plan.at(-1)!.label, "close the exec fifo");
});

Deno.test("oci exec: a container without a mount namespace is joined into its root by chroot", () => {
  const join = (namespaces: Spec["linux"]["namespaces"][number]["type"][]) =>
    buildJoinPlan({ pid: 42, namespaces, args: ["/bin/true"], env: [], cwd: "/" });
  const plan = join(["pid", "ipc", "uts"]);
  const open = plan.findIndex((op) => op.label === "open /proc/42/root");
  assert.ok(open > 0);
  const chroot = plan.findIndex((op) => op.call === "chroot");
  assert.deepEqual(plan.slice(chroot - 1, chroot + 2).map((op) => [op.call, op.args[0]]), [
    ["fchdir", { ref: open }],
    ["chroot", "."],
    ["close", { ref: open }],
  ]);
  // setns into the mount namespace gives its root already.
  assert.ok(
    !join(["pid", "mount"]).some((op) => op.call === "chroot" || op.label.endsWith("/root")),
  );
});

const HOOKS: NonNullable<Spec["hooks"]> = {
  prestart: [{ path: "/bin/pre" }],
  createContainer: [
    { path: "/bin/cc1", args: ["cc1", "-x"], env: ["A=1"], timeout: 5 },
    { path: "/bin/cc2" },
  ],
  startContainer: [{ path: "/bin/sc1" }, { path: "/bin/sc2", timeout: 2.5 }],
};

function hookPlan(hooks: NonNullable<Spec["hooks"]>, pause: boolean, noMountNs = false): Op[] {
  const dir = bundleWith((c) => {
    c.hooks = hooks;
    c.process.args = ["/bin/sh"];
    c.process.user = { uid: 1000, gid: 1000 };
    c.root.readonly = true;
    if (noMountNs) c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== "mount");
  });
  const spec = loadBundle(dir, () => {});
  Deno.removeSync(dir, { recursive: true });
  return buildChildPlan({
    spec,
    mounts: prepareMounts(spec.mounts),
    init: false,
    securityOps: securityOps(spec, { lastCap: 40, held: (1n << 41n) - 1n }),
    created: {
      fifoFd: 50,
      readyFd: 51,
      ...(noMountNs ? { fifoAt: { dirFd: 52, name: "exec.fifo" } } : {}),
      hooks: {
        createContainer: hooks.createContainer ?? [],
        startContainer: hooks.startContainer ?? [],
        createStateFd: 60,
        startStateFd: 61,
        pause,
      },
    },
  });
}

Deno.test("oci plan: createContainer hooks after the pause for the runtime's hooks, before masks and pivot_root", () => {
  const plan = hookPlan(HOOKS, true);
  const at = (label: string) => plan.findIndex((op) => op.label === label);
  const cc1 = at("createContainer hook /bin/cc1");
  // Executed through the exec helper: its argv names the hook's path, then the hook's argv.
  const helperArgv = (path: string, args: string[]) =>
    execHelperArgv([{ path, tolerated: false }], args, true);
  assert.deepEqual(plan[cc1].args, [
    "/bin/cc1",
    helperArgv("/bin/cc1", ["cc1", "-x"]),
    ["A=1"],
    60,
    5,
    -1,
  ]);
  assert.deepEqual(plan[cc1 + 1].args, [
    "/bin/cc2",
    helperArgv("/bin/cc2", ["/bin/cc2"]),
    [],
    60,
    0,
    -1,
  ]);
  // The pause: byte 2 on the ready pipe, then a second byte on the sync pipe.
  assert.deepEqual(plan.slice(cc1 - 2, cc1).map((op) => [op.call, op.args[0]]), [
    ["write", 51],
    ["wait_sync", undefined],
  ]);
  assert.deepEqual(plan[cc1 - 2].args[1], new Uint8Array([2]));
  // In the container's mount namespace with its mounts and devices, before
  // the masks, the read-only remount and pivot_root (runc's place).
  assert.ok(at("mount proc on /proc") < cc1);
  assert.ok(at("mknod /dev/null") < cc1);
  assert.ok(cc1 + 1 < at("remount /proc/sys read-only"));
  assert.ok(cc1 + 1 < at("remount / read-only"));
  assert.ok(cc1 + 1 < plan.findIndex((op) => op.call === "pivot_root"));
  // The state memfd of startContainer survives close_fds; createContainer's need not.
  assert.deepEqual(plan.find((op) => op.call === "close_fds")!.args, [50, 51, 61]);
});

Deno.test("oci plan: startContainer hooks between the exec fifo's open and the '0' for start, reporting there", () => {
  const plan = hookPlan(HOOKS, false);
  const calls = plan.map((op) => op.call);
  const exec = calls.indexOf("execve");
  assert.deepEqual(calls.slice(exec - 6, exec + 1), [
    "fd_path",
    "openat",
    "hook",
    "hook",
    "write",
    "close",
    "execve",
  ]);
  assert.equal(plan[exec - 5].label, "wait for start on the exec fifo");
  assert.equal(plan[exec - 4].label, "startContainer hook /bin/sc1");
  // Each hook and the "0" refer to the fifo's open.
  assert.deepEqual(plan[exec - 4].args.slice(3), [61, 0, { back: 1 }]);
  assert.deepEqual(plan[exec - 3].args.slice(3), [61, 3, { back: 2 }]);
  assert.deepEqual(plan[exec - 2].args[0], { back: 3 });
  // After the process's user and capabilities, like runc's.
  assert.ok(calls.lastIndexOf("setresuid") < exec - 5);
  assert.ok(calls.lastIndexOf("capset") < exec - 5);
  // No pause without prestart/createRuntime hooks.
  assert.ok(!plan.some((op) => op.label === "wait for the runtime's hooks"));
});

Deno.test("oci plan: without a mount namespace createContainer hooks run before the chroot", () => {
  const plan = hookPlan({ createContainer: [{ path: "/bin/cc" }] }, false, true);
  const hook = plan.findIndex((op) => op.call === "hook");
  assert.ok(hook > 0 && hook < plan.findIndex((op) => op.call === "chroot"));
  assert.deepEqual(plan.find((op) => op.call === "close_fds")!.args, [50, 51, 52]);
});

Deno.test("oci hooks: a failed hook op is a sentence naming the stage, the path and what happened", () => {
  assert.equal(
    hookError("createContainer", "/bin/x", HOOK_FAILED.STATUS | (3 << 8), 0).message,
    "createContainer hook /bin/x: exited with status 3",
  );
  assert.equal(
    hookError("startContainer", "/bin/x", HOOK_FAILED.STATUS | 9, 0).message,
    "startContainer hook /bin/x: was killed by signal 9",
  );
  assert.equal(
    hookError("createContainer", "/bin/x", HOOK_FAILED.TIMEOUT, 2).message,
    "createContainer hook /bin/x: timed out after 2 s",
  );
  assert.match(
    hookError("createContainer", "/nope", 2, 0).message,
    /^execute createContainer hook \/nope: No such file or directory/,
  );
  const op = hookPlan(HOOKS, false).find((o) => o.label === "createContainer hook /bin/cc1");
  assert.equal(
    hookOpError(op, HOOK_FAILED.TIMEOUT)?.message,
    "createContainer hook /bin/cc1: timed out after 5 s",
  );
  assert.equal(hookOpError({ call: "close", args: [3], label: "x" }, 9), undefined);
  // What start reads on the fifo.
  assert.deepEqual(fifoReport(new TextEncoder().encode("0"), []), { ok: true });
  const record = new Uint8Array([0x45, 0, 0, 0, 0, ...new TextEncoder().encode("/bin/sc2")]);
  new DataView(record.buffer).setInt32(1, HOOK_FAILED.TIMEOUT, true);
  const report = fifoReport(record, HOOKS.startContainer!);
  assert.equal(report?.ok, false);
  assert.equal(
    report?.ok === false && report.error.message,
    "startContainer hook /bin/sc2: timed out after 3 s",
  );
  assert.equal(fifoReport(new Uint8Array([7]), []), undefined);
});

Deno.test("process attributes: ioprio_set and personality ops, only when the spec asks", () => {
  const dir = bundleWith((c) => {
    c.process.ioPriority = { class: "IOPRIO_CLASS_RT", priority: 4 };
    c.linux.personality = { domain: "LINUX32" };
  });
  const spec = loadBundle(dir, () => {});
  assert.deepEqual(processAttributeOps(spec).map((o) => [o.call, o.args]), [
    ["ioprio_set", [1, 0, (1 << 13) | 4]],
    ["personality", [8]],
  ]);
  Deno.removeSync(dir, { recursive: true });
  const plain = bundleWith(() => {});
  assert.deepEqual(processAttributeOps(loadBundle(plain, () => {})), []);
  Deno.removeSync(plain, { recursive: true });
});
