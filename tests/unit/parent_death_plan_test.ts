// The plans of run and exec, as data: the parent-death signal is set again
// after every credential change and fork, and the runtime's files are
// closed (not only marked close-on-exec) before another process of the
// container can see the child.
import assert from "node:assert/strict";
import type { Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { defaultSpec } from "../../lib/container/default_spec.ts";
import { buildJoinPlan } from "../../lib/container/join.ts";
import { buildChildPlan } from "../../lib/container/plan.ts";
import { prepareMounts } from "../../lib/mounts/prepare.ts";
import { resolveCapabilities } from "../../lib/security/capabilities.ts";
import { securityOps } from "../../lib/security/process_ops.ts";
import { defaultSeccompProfile } from "../../lib/security/seccomp.ts";
import type { Spec } from "../../lib/spec.ts";

const DEFAULT_SECCOMP_PROFILE = defaultSeccompProfile();

const ROOT = "/nonexistent-rootfs";
const MAPS = {
  uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
  gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
};

function spec(opts: { uid?: number; userns?: boolean; noNewPrivs?: boolean } = {}): Spec {
  const s = defaultSpec({
    rootfs: ROOT,
    args: ["sleep", "1"],
    hostname: "box",
    userns: opts.userns ? MAPS : undefined,
  });
  s.process.capabilities = resolveCapabilities([], [], false);
  s.process.noNewPrivileges = opts.noNewPrivs ?? true;
  s.linux.seccomp = DEFAULT_SECCOMP_PROFILE;
  s.process.user = { uid: opts.uid ?? 0, gid: opts.uid ?? 0 };
  return s;
}

const security = (s: Spec) => securityOps(s, { lastCap: 40, held: (1n << 64n) - 1n });

function runPlan(s: Spec, init = false, terminal = false): Op[] {
  return buildChildPlan({
    spec: s,
    mounts: prepareMounts(s.mounts),
    init,
    stdio: [0, 7, 8],
    securityOps: security(s),
    terminal: terminal ? { socketFd: 9, size: { rows: 24, cols: 80 } } : undefined,
  });
}

function joinPlan(s: Spec, terminal = false): Op[] {
  return buildJoinPlan({
    pid: 4242,
    namespaces: s.linux.namespaces.map((n) => n.type),
    args: s.process.args,
    env: s.process.env ?? [],
    cwd: "/",
    terminal: terminal ? { socketFd: 9, size: { rows: 24, cols: 80 } } : undefined,
    securityOps: security(s),
  });
}

const isPdeathsig = (op: Op) => op.call === "prctl" && op.args[0] === K.PR_SET_PDEATHSIG;
const isNotDumpable = (op: Op) =>
  op.call === "prctl" && op.args[0] === K.PR_SET_DUMPABLE && op.args[1] === 0;
const CREDENTIAL_CHANGES = new Set(["setresuid", "setresgid", "capset", "setgroups", "init"]);

/**
 * Every credential change and fork is followed, before the next process
 * image (execve) and before the next fork, by prctl(PR_SET_PDEATHSIG),
 * prctl(PR_SET_DUMPABLE, 0) and check_parent, in that order.
 */
function assertRearmed(plan: Op[], what: string): void {
  plan.forEach((op, i) => {
    if (!CREDENTIAL_CHANGES.has(op.call)) return;
    const next = plan.findIndex((o, j) => j > i && (o.call === "execve" || o.call === "init"));
    const window = plan.slice(i + 1, next < 0 ? plan.length : next);
    const lastChange = window.findLastIndex((o) => CREDENTIAL_CHANGES.has(o.call));
    const after = window.slice(lastChange + 1);
    const sig = after.findIndex(isPdeathsig);
    assert.ok(sig >= 0, `${what}: no PDEATHSIG after op ${i} (${op.label})`);
    assert.deepEqual(after[sig].args.slice(0, 2), [K.PR_SET_PDEATHSIG, K.SIGKILL]);
    assert.ok(after.findIndex(isNotDumpable) > sig, `${what}: dumpable after op ${i}`);
    assert.ok(
      after.findIndex((o) => o.call === "check_parent") > sig,
      `${what}: no parent check after op ${i} (${op.label})`,
    );
  });
}

Deno.test("plans: prctl(PR_SET_PDEATHSIG) follows every setresuid, setresgid and fork", () => {
  for (const uid of [0, 1000, 65534]) {
    for (const userns of [false, true]) {
      for (const noNewPrivs of [true, false]) {
        const s = spec({ uid, userns, noNewPrivs });
        const name = `uid ${uid}, userns ${userns}, nnp ${noNewPrivs}`;
        assertRearmed(security(s), `securityOps ${name}`);
        assertRearmed(runPlan(s), `run ${name}`);
        assertRearmed(runPlan(s, true), `run --init ${name}`);
        assertRearmed(joinPlan(s), `exec ${name}`);
        assertRearmed(joinPlan(s, true), `exec -t ${name}`);
      }
    }
  }
});

Deno.test("plans: the user switch is followed by its rearm, with a new user namespace twice", () => {
  const plan = runPlan(spec({ uid: 1000, userns: true }), true);
  const setresuid = plan.flatMap((op, i) => op.call === "setresuid" ? [i] : []);
  assert.equal(setresuid.length, 2, "root of the namespace, then the user");
  assert.ok(isPdeathsig(plan[setresuid[0] + 1]), plan[setresuid[0] + 1].label);
  // The user's switch: after capset and the ambient set, before the filter.
  const rearm = plan.findIndex((op, i) => i > setresuid[1] && isPdeathsig(op));
  assert.ok(rearm > plan.findIndex((op) => op.call === "capset"));
  assert.ok(rearm < plan.findIndex((op) => op.call === "seccomp"));
  const init = plan.findIndex((op) => op.call === "init");
  assert.ok(isPdeathsig(plan[init + 1]), "the init's forked child sets it again");
  // The rearm after becoming root of the namespace precedes the fork: the
  // init itself keeps the signal.
  assert.ok(setresuid[0] < init && init < setresuid[1]);
});

Deno.test("exec plan: close_fds (not close-on-exec) precedes the pid-namespace fork, after every setns", () => {
  for (const terminal of [false, true]) {
    const plan = joinPlan(spec({ userns: true }), terminal);
    const close = plan.findIndex((op) => op.call === "close_fds");
    const fork = plan.findIndex((op) => op.call === "init");
    assert.ok(close >= 0 && close < fork, "files closed before the fork");
    assert.ok(plan.findLastIndex((op) => op.call === "setns") < close);
    assert.ok(plan.findIndex((op) => op.call === "wait_sync") < close);
    // Nothing is opened between the close and the fork.
    const between = plan.slice(close + 1, fork);
    assert.ok(between.every((op) => !["openat", "open", "socket", "dup3"].includes(op.call)));
    // Only the pty socket, which the child still needs after the fork, is kept.
    assert.deepEqual(plan[close].args, terminal ? [9] : []);
    if (terminal) {
      assert.ok(plan.findIndex((op) => op.label === "send the pty master to the runtime") > fork);
    }
  }
});

Deno.test("run plan: close_fds after the stdio and pty set-up, before the init fork and the exec", () => {
  for (const init of [false, true]) {
    const plan = runPlan(spec({ uid: 1000 }), init, true);
    const close = plan.findIndex((op) => op.call === "close_fds");
    assert.ok(close > 0);
    assert.deepEqual(plan[close].args, [], "nothing of the runtime's is kept");
    assert.ok(plan.findLastIndex((op) => op.call === "dup3") < close, "stdio copies used first");
    assert.ok(plan.findLastIndex((op) => op.call === "send_fd") < close);
    const fork = plan.findIndex((op) => op.call === "init");
    if (init) assert.ok(close < fork);
    assert.ok(close < plan.findIndex((op) => op.call === "execve"));
  }
});

Deno.test("plans: the environment of every execve is exactly the spec's", () => {
  const s = spec({ uid: 1000 });
  for (const plan of [runPlan(s), joinPlan(s), runPlan(s, true)]) {
    const execs = plan.filter((op) => op.call === "execve");
    assert.ok(execs.length > 0);
    for (const op of execs) assert.deepEqual(op.args[2], s.process.env);
  }
});
