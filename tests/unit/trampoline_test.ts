// The trampoline for real, without namespaces (no root needed): the .so is
// loaded from its bytes through memfd_create, as a compiled binary does.
import assert from "node:assert/strict";
import { encodePlan, type Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { loadTrampolineFromBytes, TRAMPOLINE_URL } from "../../ffi/trampoline.ts";
import { exitCodeOf } from "../../lib/container/exit_status.ts";

const t = loadTrampolineFromBytes(Deno.readFileSync(TRAMPOLINE_URL));

async function spawn(plan: Op[]) {
  const child = t.spawn(0, encodePlan(plan), -1);
  t.release(child.syncFd);
  const record = await t.readFull(child.errorFd, 8);
  t.close(child.errorFd);
  const status = await t.wait(child.pid);
  const view = new DataView(record.buffer, record.byteOffset, record.length);
  return {
    code: exitCodeOf(status),
    failed: record.length === 8
      ? { op: view.getInt32(0, true), errno: view.getInt32(4, true) }
      : null,
  };
}

const WAIT: Op = { call: "wait_sync", args: [], label: "wait" };

Deno.test("trampoline: a child whose runtime goes away before releasing it exits", async () => {
  const child = t.spawn(
    0,
    encodePlan([WAIT, { call: "execve", args: ["/bin/true", ["true"], []], label: "e" }]),
    -1,
  );
  t.close(child.syncFd);
  assert.equal((await t.readFull(child.errorFd, 8)).length, 0);
  t.close(child.errorFd);
  assert.equal(exitCodeOf(await t.wait(child.pid)), 125);
});

Deno.test("trampoline from memfd: the child waits, then execs the command", async () => {
  const r = await spawn([
    WAIT,
    { call: "execve", args: ["/bin/sh", ["sh", "-c", "exit 3"], []], label: "exec", exec: true },
  ]);
  assert.equal(r.failed, null);
  assert.equal(r.code, 3);
});

Deno.test("trampoline: a failing op reports its index and errno", async () => {
  const r = await spawn([
    WAIT,
    { call: "chdir", args: ["/nonexistent/dir"], label: "chdir" },
    { call: "execve", args: ["/bin/true", ["true"], []], label: "exec", exec: true },
  ]);
  assert.deepEqual(r.failed, { op: 1, errno: 2 });
  assert.equal(r.code, 125);
});

Deno.test("trampoline: tolerated errnos continue; EACCES on the way beats a final ENOENT", async () => {
  const plain = Deno.makeTempFileSync();
  Deno.chmodSync(plain, 0o644);
  const r = await spawn([
    WAIT,
    { call: "mkdirat", args: [K.AT_FDCWD, "/", 0o755], label: "mkdir /", tolerate: ["EEXIST"] },
    {
      call: "execve",
      args: [plain, ["x"], []],
      label: "e1",
      exec: true,
      tolerate: ["EACCES"],
    },
    { call: "execve", args: ["/nonexistent", ["x"], []], label: "e2", exec: true },
  ]);
  Deno.removeSync(plain);
  assert.deepEqual(r.failed, { op: 3, errno: 13 });
});

Deno.test("trampoline: results feed later ops (open, write, close)", async () => {
  const file = Deno.makeTempFileSync();
  try {
    const r = await spawn([
      WAIT,
      { call: "openat", args: [K.AT_FDCWD, file, K.O_WRONLY | K.O_CLOEXEC, 0], label: "open" },
      { call: "write", args: [{ ref: 1 }, new TextEncoder().encode("written"), 7], label: "write" },
      { call: "close", args: [{ ref: 1 }], label: "close" },
      { call: "execve", args: ["/bin/true", ["true"], []], label: "exec", exec: true },
    ]);
    assert.equal(r.failed, null);
    assert.equal(Deno.readTextFileSync(file), "written");
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("trampoline: init reaps and passes on the command's status", async () => {
  const r = await spawn([
    WAIT,
    { call: "reset_signals", args: [], label: "reset" },
    { call: "init", args: [], label: "init" },
    { call: "rt_sigprocmask", args: [K.SIG_SETMASK, new Uint8Array(8), null, 8], label: "unblock" },
    {
      call: "execve",
      args: ["/bin/sh", ["sh", "-c", "kill -9 $$"], []],
      label: "exec",
      exec: true,
    },
  ]);
  assert.equal(r.failed, null);
  assert.equal(r.code, 137);
});
