import assert from "node:assert/strict";
import type { Op } from "../../ffi/plan.ts";
import { CLONE, MS } from "../../ffi/syscalls.ts";
import { defaultSpec } from "../../lib/container/default_spec.ts";
import { buildChildPlan, cloneFlags } from "../../lib/container/plan.ts";
import { prepareMounts } from "../../lib/mounts/prepare.ts";
import type { Spec } from "../../lib/spec.ts";

const ROOT = "/nonexistent-rootfs";

function planFor(spec: Spec, init = false): Op[] {
  return buildChildPlan({ spec, mounts: prepareMounts(ROOT, spec.mounts), init });
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
  assert.equal(plan[proc].args[1], `${ROOT}/proc`);
  assert.ok(at(plan, `bind rootfs ${ROOT}`) < proc);
  assert.ok(proc < at(plan, `pivot_root ${ROOT}`));
  assert.ok(at(plan, `pivot_root ${ROOT}`) < at(plan, "detach old root"));
});

Deno.test("plan: /sys read-only, /dev nodes after /dev/pts, no tmpfs on /tmp", () => {
  const plan = planFor(spec());
  const sys = plan[at(plan, "mount sysfs on /sys")];
  assert.equal((sys.args[3] as number) & MS.RDONLY, MS.RDONLY);
  assert.ok(at(plan, "mount devpts on /dev/pts") < at(plan, "mknod /dev/null"));
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
  const dev = plan[at(plan, "mount tmpfs on /dev")];
  assert.equal(dev.args[4], "mode=755,size=65536k");
  assert.equal((dev.args[3] as number) & MS.NOSUID, MS.NOSUID);
  const shm = plan[at(plan, "mount tmpfs on /dev/shm")];
  assert.equal(shm.args[4], "mode=1777,size=65536k");
  const flags = MS.NOSUID | MS.NODEV | MS.NOEXEC;
  assert.equal((shm.args[3] as number) & flags, flags);
});

Deno.test("plan: an overlay root in a user namespace keeps its marks in user xattrs; volatile", () => {
  const overlay = { lower: ["/l"], upper: "/c/upper", work: "/c/work" };
  const options = (s: Spec) => {
    const plan = buildChildPlan({
      spec: s,
      mounts: prepareMounts(ROOT, s.mounts),
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
    mounts: prepareMounts(ROOT, spec().mounts),
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

Deno.test("plan: workdir created component by component, then chdir", () => {
  const plan = planFor(spec({ cwd: "/srv/app" }));
  assert.ok(at(plan, "mkdir /srv") < at(plan, "mkdir /srv/app"));
  assert.ok(at(plan, "mkdir /srv/app") < at(plan, "chdir /srv/app"));
  assert.deepEqual(plan[at(plan, "mkdir /srv")].tolerate, ["EEXIST"]);
  assert.ok(at(plan, "chdir /srv/app") > at(plan, "detach old root"));
});

Deno.test("plan: a read-only volume is a bind then a read-only remount", () => {
  const s = spec({
    mounts: [{ destination: "/data", type: "bind", source: "/tmp", options: ["rbind", "ro"] }],
  });
  const plan = planFor(s);
  const bind = at(plan, "bind /tmp on /data");
  assert.equal(plan[bind].args[3], MS.BIND | MS.REC | MS.RDONLY);
  const remount = plan[bind + 1];
  assert.equal(remount.label, "remount /data read-only");
  assert.equal(remount.args[3], MS.BIND | MS.REMOUNT | MS.RDONLY);
});

Deno.test("plan: stdin from the host's /dev/null before anything else, only when asked", () => {
  const plan = buildChildPlan({
    spec: spec(),
    mounts: prepareMounts(ROOT, spec().mounts),
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
