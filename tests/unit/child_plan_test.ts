import assert from "node:assert/strict";
import { IN_ROOT, type Op, type Ref } from "../../ffi/plan.ts";
import { CLONE, K, MS } from "../../ffi/syscalls.ts";
import { defaultSpec } from "../../lib/container/default_spec.ts";
import { buildJoinPlan } from "../../lib/container/join.ts";
import { buildChildPlan, cloneFlags } from "../../lib/container/plan.ts";
import { checkDevices, prepareMounts } from "../../lib/mounts/prepare.ts";
import type { Spec } from "../../lib/spec.ts";

const ROOT = "/nonexistent-rootfs";

const MASKED = [{ path: "/proc/kcore", dir: false }, { path: "/sys/firmware", dir: true }];

function planFor(spec: Spec, init = false): Op[] {
  return buildChildPlan({ spec, mounts: prepareMounts(spec.mounts), init, masked: MASKED });
}

function spec(extra: Partial<Parameters<typeof defaultSpec>[0]> = {}): Spec {
  return defaultSpec({ rootfs: ROOT, args: ["sh", "-c", "true"], hostname: "box", ...extra });
}

const at = (plan: Op[], label: string | RegExp) =>
  plan.findIndex((op) => typeof label === "string" ? op.label === label : label.test(op.label));

Deno.test("plan: waits for the runtime before touching anything", () => {
  const plan = planFor(spec());
  assert.ok(at(plan, "wait for the runtime") < at(plan, "make / rprivate"));
  assert.ok(at(plan, "set parent-death signal") < at(plan, "wait for the runtime"));
});

Deno.test("plan: / is made rprivate before the rootfs bind, proc mounted before pivot_root", () => {
  const plan = planFor(spec());
  const rprivate = at(plan, "make / rprivate");
  assert.deepEqual(plan[rprivate].args, [null, "/", null, MS.REC | MS.PRIVATE, null]);
  assert.ok(rprivate < at(plan, `bind rootfs ${ROOT}`));
  const proc = at(plan, "mount proc on /proc");
  assert.equal(fdOf(plan, proc, 1).args[1], "proc");
  assert.ok(at(plan, `bind rootfs ${ROOT}`) < proc);
  assert.ok(proc < at(plan, `pivot_root ${ROOT}`));
  assert.ok(at(plan, `pivot_root ${ROOT}`) < at(plan, "detach old root"));
});

Deno.test("plan: /sys read-only, /dev nodes after /dev/pts, no tmpfs on /tmp", () => {
  const plan = planFor(spec());
  const sys = plan[at(plan, "mount sysfs on /sys")];
  assert.equal((sys.args[3] as number) & MS.RDONLY, MS.RDONLY);
  assert.ok(at(plan, "mount devpts on /dev/pts") < at(plan, "mknod /dev/null"));
  // After every mount: no later mount hides a node.
  assert.ok(at(plan, "mount tmpfs on /tmp") < at(plan, "mknod /dev/null"));
  for (const dev of ["null", "zero", "full", "random", "urandom", "tty"]) {
    assert.ok(at(plan, `mknod /dev/${dev}`) > 0, dev);
  }
  assert.ok(at(plan, "symlink /dev/ptmx -> pts/ptmx") > 0);
  // /tmp is part of the writable layer, on disk (docker's way), not host memory.
  assert.equal(at(plan, /on \/tmp$/), -1);
  assert.equal(at(plan, /on \/run$/), -1);
});

Deno.test("plan: /dev and /dev/shm are tmpfs of 64 MiB (runc's and docker's defaults)", () => {
  const plan = planFor(spec());
  // The label names the file-system options: the words of the error when one is refused.
  const dev = plan[at(plan, "mount tmpfs on /dev with file-system options mode=755,size=65536k")];
  assert.equal(dev.args[4], "mode=755,size=65536k");
  assert.equal((dev.args[3] as number) & MS.NOSUID, MS.NOSUID);
  const shm = plan[at(plan, /^mount tmpfs on \/dev\/shm with /)];
  assert.equal(shm.args[4], "mode=1777,size=65536k");
  const flags = MS.NOSUID | MS.NODEV | MS.NOEXEC;
  assert.equal((shm.args[3] as number) & flags, flags);
});

Deno.test("plan: an overlay root in a user namespace keeps its marks in user xattrs; volatile", () => {
  const overlay = { lower: ["/l"], upper: "/c/upper", work: "/c/work" };
  const options = (s: Spec) => {
    const plan = buildChildPlan({
      spec: s,
      mounts: prepareMounts(s.mounts),
      init: false,
      overlay,
    });
    return plan[at(plan, /^mount the image's overlay/)].args[4] as string;
  };
  assert.equal(options(spec()), "lowerdir=/l,upperdir=/c/upper,workdir=/c/work");
  const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
  assert.equal(
    options(spec({ userns: { uidMappings: maps, gidMappings: maps } })),
    "lowerdir=/l,upperdir=/c/upper,workdir=/c/work,userxattr",
  );
  const plan = buildChildPlan({
    spec: spec(),
    mounts: prepareMounts(spec().mounts),
    init: false,
    overlay: { ...overlay, volatile: true },
  });
  assert.equal(
    plan[at(plan, /^mount the image's overlay/)].args[4],
    "lowerdir=/l,upperdir=/c/upper,workdir=/c/work,volatile",
  );
});

Deno.test("plan: the command's exec ops come last, one per PATH entry, only the last fatal", () => {
  const plan = planFor(spec({ env: ["PATH=/a:/b:/c"] }));
  const execs = plan.filter((op) => op.call === "execve");
  assert.deepEqual(execs.map((op) => op.args[0]), ["/a/sh", "/b/sh", "/c/sh"]);
  assert.deepEqual(plan.slice(-3), execs);
  assert.deepEqual(execs[0].tolerate, ["ENOENT", "ENOTDIR", "EACCES"]);
  assert.equal(execs[2].tolerate, undefined);
  assert.ok(execs.every((op) => op.exec));
});

Deno.test("plan: an absolute command is a single execve", () => {
  const plan = planFor(defaultSpec({ rootfs: ROOT, args: ["/bin/true"], hostname: "b" }));
  assert.equal(plan.filter((op) => op.call === "execve").length, 1);
});

Deno.test("plan: hostname set in the UTS namespace, lo brought up only with a new network namespace", () => {
  const plan = planFor(spec());
  assert.deepEqual(plan[at(plan, "sethostname box")].args, ["box", 3]);
  const lo = at(plan, "set lo up");
  assert.deepEqual(plan[lo].args[0], { back: 1 });
  assert.equal(plan[lo - 1].call, "socket");
  const host = planFor(spec({ hostNetwork: true }));
  assert.equal(at(host, "set lo up"), -1);
  assert.equal(cloneFlags(spec({ hostNetwork: true })) & CLONE.NEWNET, 0);
  assert.equal(cloneFlags(spec()) & CLONE.NEWNET, CLONE.NEWNET);
});

Deno.test("plan: clone flags hold every namespace but cgroup, which the child enters after release", () => {
  const flags = cloneFlags(spec());
  for (const f of [CLONE.NEWPID, CLONE.NEWNS, CLONE.NEWUTS, CLONE.NEWIPC, CLONE.NEWNET]) {
    assert.equal(flags & f, f);
  }
  assert.equal(flags & CLONE.NEWCGROUP, 0);
  const plan = planFor(spec());
  assert.ok(at(plan, "enter a new cgroup namespace") > at(plan, "wait for the runtime"));
});

Deno.test("plan: init forks after signals are reset and before they are unblocked and exec", () => {
  const plan = planFor(spec(), true);
  const init = at(plan, "fork the init process");
  assert.ok(at(plan, "reset signal handlers") < init);
  assert.ok(init < at(plan, "unblock signals"));
  assert.ok(init < plan.findIndex((op) => op.call === "execve"));
  assert.equal(at(planFor(spec()), "fork the init process"), -1);
});

Deno.test("plan: workdir created in the container's root after pivot_root, entered through its fd", () => {
  const plan = planFor(spec({ cwd: "/srv/../srv/app" }));
  const open = at(plan, "create working directory /srv/../srv/app");
  assert.equal(plan[open].call, "open_in_root");
  assert.equal(plan[open].args[1], "srv/app");
  assert.equal(plan[open].args[2], IN_ROOT.MKDIR);
  assert.equal(plan[source(plan, open, 0)].label, "open /");
  const chdir = at(plan, "chdir /srv/../srv/app");
  assert.equal(plan[chdir].call, "fchdir");
  assert.equal(source(plan, chdir, 0), open);
  assert.ok(open > at(plan, "detach old root"));
  assert.equal(plan.filter((op) => op.call === "mkdirat").length, 0);
});

Deno.test("plan: a read-only volume is a detached tree moved onto its target, then remounted read-only", () => {
  const s = spec({
    mounts: [{ destination: "/data", type: "bind", source: "/tmp", options: ["rbind", "ro"] }],
  });
  const plan = planFor(s);
  const bind = at(plan, "bind /tmp on /data");
  assert.equal(plan[bind].call, "move_mount");
  const tree = source(plan, bind, 0);
  assert.equal(plan[tree].call, "open_tree");
  assert.equal(plan[tree].args[1], "/tmp");
  assert.equal(plan[tree].args[2], K.OPEN_TREE_CLONE | K.O_CLOEXEC | K.AT_RECURSIVE);
  assert.equal(plan[source(plan, bind, 2)].args[1], "data");
  const remount = at(plan, "remount /data read-only");
  assert.ok(remount > bind);
  assert.equal(plan[remount].args[3], MS.BIND | MS.REMOUNT | MS.RDONLY);
  // Through the tree's own fd: the flags reach the new mount, not the one under it.
  assert.equal(source(plan, source(plan, remount, 1), 1), tree);
});

/** The index of the op whose result argument `k` of op `i` takes (a reference). */
function source(plan: Op[], i: number, k: number): number {
  const a = plan[i].args[k] as Ref;
  assert.ok(a && typeof a === "object" && ("back" in a || "ref" in a), `${plan[i].label} arg ${k}`);
  return "back" in a ? i - a.back : a.ref;
}

/**
 * The op that produced the fd a "/proc/self/fd/N" argument names: a buffer
 * an open_in_root filled, or the result of an fd_path op.
 */
function fdOf(plan: Op[], i: number, k: number): Op {
  const a = plan[i].args[k];
  if (a instanceof Uint8Array) {
    const filler = plan.findIndex((op, j) =>
      j < i && op.call === "open_in_root" && op.args[3] === a
    );
    assert.ok(filler >= 0, `${plan[i].label}: arg ${k} is a buffer no resolution fills`);
    return plan[filler];
  }
  const path = plan[source(plan, i, k)];
  assert.equal(path.call, "fd_path", `${plan[i].label}: arg ${k} is not an fd's path`);
  return plan[source(plan, source(plan, i, k), 1)];
}

/** A spec with volumes, devices (with traversal), masks and read-only paths: every kind of target. */
function busySpec(): Spec {
  const s = spec({
    cwd: "/w/x",
    mounts: [
      { destination: "/data", type: "bind", source: "/tmp", options: ["rbind", "ro"] },
      { destination: "/data/cfg/sub", type: "bind", source: "/tmp", options: ["rbind"] },
      { destination: "/etc/../run", type: "tmpfs", source: "tmpfs", options: ["shared"] },
    ],
  });
  s.linux.devices!.push({ type: "c", path: "/dev/../../../../tmp/x", major: 1, minor: 3 });
  s.linux.readonlyPaths = ["/proc/sys"];
  return s;
}

Deno.test("plan: every mount target, device and link is an fd from a resolution inside the root", () => {
  for (const bindDevices of [false, true]) {
    const s = busySpec();
    if (bindDevices) s.linux.namespaces.push({ type: "user" });
    const plan = planFor(s);
    const rootOpen = at(plan, `open rootfs ${ROOT}`);
    // The runtime's own mounts before the rootfs is opened name its paths; none after.
    plan.forEach((op, i) => {
      if (i <= rootOpen) return;
      const fromRoot = (o: Op) =>
        o.call === "open_in_root" || o.call === "open_tree" || o === plan[rootOpen] ||
        o.label === "open /";
      if (op.call === "mount") {
        assert.ok(fromRoot(fdOf(plan, i, 1)), op.label);
      } else if (op.call === "move_mount") {
        assert.equal(plan[source(plan, i, 2)].call, "open_in_root", op.label);
        assert.equal(op.args[4], K.MOVE_MOUNT_F_EMPTY_PATH | K.MOVE_MOUNT_T_EMPTY_PATH);
      } else if (op.call === "mknodat") {
        assert.equal(plan[source(plan, i, 0)].call, "open_in_root", op.label);
        assert.ok(!(op.args[1] as string).includes("/"), op.label);
      } else if (op.call === "symlinkat") {
        assert.equal(plan[source(plan, i, 1)].call, "open_in_root", op.label);
        assert.ok(!(op.args[2] as string).includes("/"), op.label);
      } else if (op.call === "open_in_root") {
        const from = plan[source(plan, i, 0)];
        assert.ok(from === plan[rootOpen] || from.label === "open /", op.label);
        const path = op.args[1] as string;
        assert.ok(!path.startsWith("/") && !path.split("/").some((p) => p === ".." || p === "."));
      } else if (["mkdirat", "openat", "chdir", "unlinkat", "fchmodat"].includes(op.call)) {
        assert.ok(
          op.label === "open /" || (op.call === "chdir" && op.args[0] === "/"),
          `${op.label}: ${op.call} by name after the rootfs is opened`,
        );
      }
    });
    // Nothing names a host path under the rootfs.
    for (const op of plan) {
      for (const a of op.args) {
        assert.ok(typeof a !== "string" || !a.startsWith(`${ROOT}/`), `${op.label}: ${a}`);
      }
    }
    // The traversing device lands in the container's /tmp.
    const dev = at(plan, "resolve /tmp in the container");
    assert.ok(dev > 0 || bindDevices);
    if (bindDevices) assert.equal(plan[at(plan, "create /dev/../../../../tmp/x")].args[1], "tmp/x");
    else assert.equal(plan[at(plan, "mknod /dev/../../../../tmp/x")].args[1], "x");
  }
});

Deno.test("plan: a target inside an earlier volume is resolved after that volume is mounted", () => {
  const plan = planFor(busySpec());
  const outer = at(plan, "bind /tmp on /data");
  const inner = at(plan, "resolve /data/cfg/sub in the container");
  assert.ok(outer < inner);
  assert.equal(plan[inner].args[1], "data/cfg/sub");
  // A file bind creates its target in the child, as part of the resolution.
  const run = at(plan, "resolve /etc/../run in the container");
  assert.equal(plan[run].args[1], "run");
});

Deno.test("plan: masks and read-only paths resolve in the root, skipped where missing, before pivot_root", () => {
  const plan = planFor(busySpec());
  const pivot = at(plan, `pivot_root ${ROOT}`);
  for (const path of ["/proc/kcore", "/sys/firmware", "/proc/sys"]) {
    const r = at(plan, `resolve ${path}`);
    assert.equal(plan[r].call, "open_in_root");
    assert.equal(plan[r].args[1], path.slice(1));
    assert.equal(plan[r].args[2], 0);
    assert.deepEqual(plan[r].tolerate, ["ENOENT"]);
    assert.ok(r < pivot && r > at(plan, "mount sysfs on /sys"));
  }
  // A file gets the container's /dev/null, a directory an empty tmpfs.
  const file = plan[at(plan, "mask /proc/kcore")];
  assert.equal(fdOf(plan, at(plan, "mask /proc/kcore"), 0).args[1], "dev/null");
  assert.equal(file.args[3], MS.BIND);
  const dir = plan[at(plan, "mask /sys/firmware")];
  assert.equal(dir.args[2], "tmpfs");
  assert.equal((dir.args[3] as number) & MS.RDONLY, MS.RDONLY);
  // A missing path leaves its buffer empty: the mount fails with ENOENT, tolerated.
  assert.deepEqual(file.tolerate, ["ENOENT"]);
});

Deno.test("plan: mount and device destinations are checked: relative and / refused, .. cleaned", () => {
  const bad = (destination: string) => () =>
    prepareMounts([{ destination, type: "bind", source: "/tmp", options: ["rbind"] }]);
  for (const d of ["/", "//", "/..", "/a/../..", "/./"]) {
    assert.throws(bad(d), /mount destination .*: cannot be the container's \//);
  }
  assert.throws(bad("data"), /must be an absolute path in the container/);
  assert.equal(bad("/a/../../../etc/./x/")()[0].inRoot, "etc/x");
  assert.throws(
    () => checkDevices([{ type: "c", path: "/dev/..", major: 1, minor: 3 }]),
    /device \/dev\/..: cannot be the container's \//,
  );
  assert.doesNotThrow(() => checkDevices([{ type: "c", path: "/dev/../x", major: 1, minor: 3 }]));
});

Deno.test("plan: stdin from the host's /dev/null before anything else, only when asked", () => {
  const plan = buildChildPlan({
    spec: spec(),
    mounts: prepareMounts(spec().mounts),
    init: false,
    nullStdin: true,
  });
  const open = at(plan, "open /dev/null");
  assert.equal(open, at(plan, "wait for the runtime") + 1, "right after the release");
  assert.deepEqual(plan[open].args.slice(0, 2), [-100, "/dev/null"]);
  assert.deepEqual(plan[open + 1].args, [{ back: 1 }, 0, 0]);
  assert.deepEqual(plan[open + 2].args, [{ back: 2 }]);
  assert.ok(open < at(plan, "make / rprivate"), "the host's node, not the container's");
  assert.equal(at(planFor(spec()), "open /dev/null"), -1);
});

Deno.test("join plan: exec -w is entered through an fd resolved in the container's root, never created", () => {
  const plan = buildJoinPlan({
    pid: 1234,
    namespaces: ["mount", "pid"],
    args: ["/bin/true"],
    env: [],
    cwd: "/proc/self/fd/3/x",
  });
  const open = plan.findIndex((op) => op.call === "open_in_root");
  assert.equal(plan[open].args[1], "proc/self/fd/3/x");
  assert.equal(plan[open].args[2], 0);
  assert.equal(plan[source(plan, open, 0)].label, "open /");
  const chdir = plan.findIndex((op) => op.call === "fchdir");
  assert.equal(source(plan, chdir, 0), open);
  assert.ok(open > plan.findIndex((op) => op.label === "join the mount namespace"));
  assert.ok(!plan.some((op) => op.call === "chdir" && op.args[0] !== "/"));
});

Deno.test("plan: a /dev bound from the host gets no nodes or links made in it (runc's rule)", () => {
  const s = spec({
    mounts: [{ destination: "/dev/", type: "bind", source: "/dev", options: ["rbind"] }],
  });
  s.linux.devices!.push({ type: "c", path: "/dev/extra", major: 1, minor: 3 });
  const plan = planFor(s);
  assert.ok(at(plan, "bind /dev on /dev/") > 0);
  assert.equal(plan.filter((op) => op.call === "mknodat" || op.call === "symlinkat").length, 0);
  assert.ok(planFor(spec()).some((op) => op.call === "mknodat"));
});

Deno.test("join plan: the container's rlimits before the security steps; -d outlives the runtime", () => {
  const join = (detached: boolean) =>
    buildJoinPlan({
      pid: 1234,
      namespaces: ["mount", "pid", "user"],
      args: ["/bin/true"],
      env: [],
      cwd: "/",
      rlimits: [{ type: "RLIMIT_NOFILE", soft: 1000, hard: 1000 }],
      securityOps: [{ call: "capset", args: [], label: "capset" }],
      detached,
    });
  for (const detached of [false, true]) {
    const plan = join(detached);
    const limit = plan.findIndex((op) => op.call === "prlimit64");
    assert.ok(limit > plan.findIndex((op) => op.call === "open_in_root"));
    assert.ok(limit < plan.findIndex((op) => op.call === "capset"));
    // Every setns refers to a namespace file the plan opened.
    for (const [k, op] of plan.entries()) {
      if (op.call !== "setns") continue;
      const ref = (op.args[0] as { ref: number }).ref;
      assert.ok(ref < k && /^open \/proc\/1234\/ns\//.test(plan[ref].label), op.label);
    }
  }
  const detached = join(true);
  const release = detached.findIndex((op) => op.call === "wait_sync");
  const clear = detached.findIndex((op) => op.label === "outlive the runtime");
  assert.ok(clear > release, "the parent-death signal stays until the child is released");
  assert.deepEqual(
    detached.filter((op) => op.call === "dup3").map((op) => op.args[1]),
    [0, 1, 2],
  );
  assert.equal(join(false).some((op) => op.label === "outlive the runtime"), false);
});

Deno.test("child plan: sysctls are written through /proc in the root before /proc/sys is read-only", () => {
  const s = spec();
  s.linux.sysctl = { "net.ipv4.ip_default_ttl": "99" };
  s.linux.readonlyPaths = ["/proc/sys"];
  const plan = planFor(s);
  const resolve = plan.findIndex((op) => op.label === "resolve /proc/sys/net/ipv4/ip_default_ttl");
  assert.equal(plan[resolve].call, "open_in_root");
  assert.equal(plan[resolve].args[1], "proc/sys/net/ipv4/ip_default_ttl");
  const write = plan.findIndex((op) => op.call === "write");
  assert.deepEqual(plan[write].args.slice(1), [new TextEncoder().encode("99"), 2]);
  const readonly = plan.findIndex((op) => op.label === "bind /proc/sys for read-only");
  assert.ok(write > 0 && readonly > write, "written before /proc/sys is made read-only");
  assert.ok(resolve > plan.findIndex((op) => /mount proc/.test(op.label)));
});
