import assert from "node:assert/strict";
import { encodePlan, type Op } from "../../ffi/plan.ts";
import { defaultSpec } from "../../lib/container/default_spec.ts";
import { buildChildPlan } from "../../lib/container/plan.ts";
import { prepareMounts } from "../../lib/mounts/prepare.ts";
import { CAPABILITIES, resolveCapabilities } from "../../lib/security/capabilities.ts";
import {
  capsetArgs,
  LINUX_CAPABILITY_VERSION_3,
  PR,
  securityOps,
} from "../../lib/security/process_ops.ts";
import { defaultSeccompProfile } from "../../lib/security/seccomp.ts";
import type { Spec } from "../../lib/spec.ts";

const DEFAULT_SECCOMP_PROFILE = defaultSeccompProfile();

const ROOT = "/nonexistent-rootfs";
const LAST_CAP = 40;
const ALL = (1n << 64n) - 1n;

function spec(edit: (s: Spec) => void = () => {}): Spec {
  const s = defaultSpec({ rootfs: ROOT, args: ["/bin/true"], hostname: "box" });
  s.process.capabilities = resolveCapabilities([], [], false);
  s.process.noNewPrivileges = true;
  s.linux.seccomp = DEFAULT_SECCOMP_PROFILE;
  edit(s);
  return s;
}

const ops = (s: Spec) => securityOps(s, { lastCap: LAST_CAP, held: ALL, arch: "x86_64" });
const index = (list: Op[], pred: (op: Op) => boolean) => list.findIndex(pred);
const lastIndex = (list: Op[], pred: (op: Op) => boolean) => list.findLastIndex(pred);
const isBoundingDrop = (op: Op) => op.call === "prctl" && op.args[0] === PR.CAPBSET_DROP;

Deno.test("securityOps: bounding drops, user, capset, ambient, no_new_privs, seccomp last", () => {
  const list = ops(spec((s) => {
    s.process.user = { uid: 1000, gid: 1000, additionalGids: [10, 29] };
  }));
  const labels = list.map((op) => op.label);
  const lastDrop = lastIndex(list, isBoundingDrop);
  const keepcaps = labels.indexOf("keep capabilities across the user switch");
  const setgroups = labels.indexOf("setgroups 10,29");
  const setresgid = labels.indexOf("setresgid 1000");
  const setresuid = labels.indexOf("setresuid 1000");
  const capset = labels.indexOf("capset");
  const clearAmbient = labels.indexOf("clear the ambient capabilities");
  const nnp = labels.indexOf("set no_new_privs");
  const seccomp = index(list, (op) => op.call === "seccomp");
  assert.ok(index(list, isBoundingDrop) === 0 && lastDrop > 0);
  const order = [lastDrop, keepcaps, setgroups, setresgid, setresuid, capset, clearAmbient, nnp];
  [...order, seccomp].reduce((before, at) => {
    assert.ok(at > before, `${labels[at]} after ${labels[before]}`);
    return at;
  });
  assert.equal(seccomp, list.length - 1);
  assert.match(list[seccomp].label, /^seccomp load filter \(\d+ instructions\)$/);
  assert.deepEqual(list[setresuid].args, [1000, 1000, 1000]);
  const gids = list[setgroups].args[1] as Uint8Array;
  assert.deepEqual([...new Uint32Array(gids.buffer)], [10, 29]);
});

Deno.test("securityOps: every capability outside the bounding set is dropped, none inside", () => {
  const list = ops(spec());
  const dropped = list.filter(isBoundingDrop).map((op) => op.args[1] as number);
  const kept = resolveCapabilities([], [], false).bounding!.map((c) => CAPABILITIES[c]);
  assert.equal(dropped.length, LAST_CAP + 1 - kept.length);
  for (let n = 0; n <= LAST_CAP; n++) assert.equal(dropped.includes(n), !kept.includes(n), `${n}`);
  assert.equal(list.find(isBoundingDrop)?.label.startsWith("drop CAP_"), true);
  // A kernel that knows fewer capabilities is not asked to drop the rest.
  const old = securityOps(spec(), { lastCap: 37, held: ALL, arch: "x86_64" }).filter(
    isBoundingDrop,
  );
  assert.ok(old.every((op) => (op.args[1] as number) <= 37));
});

Deno.test("securityOps: capset v3 carries the sets as two 32-bit words each", () => {
  const caps = {
    effective: ["CAP_CHOWN", "CAP_KILL"],
    permitted: ["CAP_CHOWN", "CAP_KILL", "CAP_SYSLOG"],
    inheritable: ["CAP_SYS_ADMIN"],
  };
  const { header, data } = capsetArgs(caps, { lastCap: LAST_CAP, held: ALL });
  const h = new DataView(header.buffer);
  assert.equal(h.getUint32(0, true), LINUX_CAPABILITY_VERSION_3);
  assert.equal(h.getInt32(4, true), 0);
  const w = new Uint32Array(data.buffer);
  // data[0] = {effective, permitted, inheritable} of caps 0-31, data[1] of 32-63.
  assert.deepEqual([...w], [
    (1 << 0) | (1 << 5),
    (1 << 0) | (1 << 5),
    1 << 21,
    0,
    1 << (34 - 32),
    0,
  ]);
  const capset = ops(spec()).find((op) => op.call === "capset")!;
  assert.equal(capset.args.length, 2);
});

Deno.test("securityOps: capabilities the runtime lacks are left out, unless in a new userns", () => {
  const privileged = (s: Spec) => (s.process.capabilities = resolveCapabilities([], [], true));
  const withheld = ALL & ~(1n << 24n); // a host without CAP_SYS_RESOURCE
  const capsetData = (list: Op[]) =>
    new Uint32Array((list.find((op) => op.call === "capset")!.args[1] as Uint8Array).buffer);
  const host = securityOps(spec(privileged), { lastCap: LAST_CAP, held: withheld });
  assert.equal(capsetData(host)[0], (0xffffffff & ~(1 << 24)) >>> 0);
  assert.equal(capsetData(host)[3], 0x1ff); // 32..40
  const userns = securityOps(
    spec((s) => {
      privileged(s);
      s.linux.namespaces.push({ type: "user" });
    }),
    { lastCap: LAST_CAP, held: withheld },
  );
  assert.equal(capsetData(userns)[0], 0xffffffff);
});

Deno.test("securityOps: root needs no keepcaps; empty groups clear, tolerating a userns deny", () => {
  const list = ops(spec());
  assert.equal(list.some((op) => op.args[0] === PR.SET_KEEPCAPS && op.call === "prctl"), false);
  const setgroups = list.find((op) => op.call === "setgroups")!;
  assert.deepEqual(setgroups.args, [0, null]);
  assert.deepEqual(setgroups.tolerate, ["EPERM"]);
});

Deno.test("securityOps: ambient capabilities are cleared then raised after capset", () => {
  const list = ops(spec((s) => {
    s.process.user = { uid: 1000, gid: 1000 };
    s.process.capabilities = {
      ...resolveCapabilities([], [], false),
      inheritable: ["CAP_NET_BIND_SERVICE"],
      ambient: ["CAP_NET_BIND_SERVICE"],
    };
  }));
  const labels = list.map((op) => op.label);
  const raise = labels.indexOf("raise ambient capability CAP_NET_BIND_SERVICE");
  assert.ok(labels.indexOf("capset") < labels.indexOf("clear the ambient capabilities"));
  assert.ok(labels.indexOf("clear the ambient capabilities") < raise);
  assert.deepEqual(list[raise].args, [PR.CAP_AMBIENT, PR.CAP_AMBIENT_RAISE, 10, 0, 0]);
});

Deno.test("securityOps: without no_new_privs the filter loads while CAP_SYS_ADMIN is held", () => {
  const list = ops(spec((s) => {
    s.process.noNewPrivileges = false;
    s.process.user = { uid: 1000, gid: 1000 };
  }));
  const labels = list.map((op) => op.label);
  const seccomp = index(list, (op) => op.call === "seccomp");
  assert.equal(labels.includes("set no_new_privs"), false);
  assert.ok(lastIndex(list, isBoundingDrop) < seccomp);
  assert.ok(seccomp < labels.indexOf("setresuid 1000"));
  assert.ok(seccomp < labels.indexOf("capset"));
});

Deno.test("securityOps: no capabilities object, no seccomp: only the user switch (and its rearm)", () => {
  const list = ops(spec((s) => {
    delete s.process.capabilities;
    delete s.linux.seccomp;
    s.process.noNewPrivileges = false;
  }));
  assert.deepEqual(list.map((op) => op.call), [
    "setgroups",
    "setresgid",
    "setresuid",
    "prctl",
    "prctl",
    "check_parent",
  ]);
});

Deno.test("securityOps: unknown capability names in a spec are refused", () => {
  assert.throws(
    () => ops(spec((s) => (s.process.capabilities = { bounding: ["CAP_FLY"] }))),
    /unknown capability name/,
  );
});

Deno.test("securityOps: spliced into the child plan, right before execve, and the plan encodes", () => {
  const s = spec((s) => (s.process.user = { uid: 1000, gid: 1000 }));
  const security = ops(s);
  const plan = buildChildPlan({
    spec: s,
    mounts: prepareMounts(s.mounts),
    init: false,
    securityOps: security,
  });
  const seccomp = index(plan, (op) => op.call === "seccomp");
  assert.equal(plan[seccomp + 1].call, "execve");
  const pivot = index(plan, (op) => op.call === "pivot_root");
  const chdir = lastIndex(plan, (op) => op.call === "chdir");
  assert.ok(pivot >= 0 && chdir > pivot && index(plan, isBoundingDrop) > chdir);
  const encoded = encodePlan(plan, true, "x86_64");
  assert.equal(encoded.count, plan.length);
});
