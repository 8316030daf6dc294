// The trampoline's defences for real (no root needed): the child is not
// dumpable from its first op, close_fds really closes what it does not keep,
// and check_parent lets a child whose parent lives go on.
import assert from "node:assert/strict";
import { pipe, readSome } from "../../ffi/io.ts";
import type { Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { spawnPlan } from "./spawn_plan.ts";

const t = trampoline();
const WAIT: Op = { call: "wait_sync", args: [], label: "wait" };
const TRUE: Op = { call: "execve", args: ["/bin/true", ["true"], []], label: "exec", exec: true };
const PR_GET_DUMPABLE = 3;

const spawn = (plan: Op[]) => spawnPlan(t, plan);

async function drain(fd: number): Promise<string> {
  const buf = new Uint8Array(256);
  let text = "";
  for (;;) {
    const n = await readSome(fd, buf);
    if (n === 0) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  t.close(fd);
  return text;
}

Deno.test("trampoline: the child is not dumpable, from before its first op", async () => {
  const [r, w] = pipe();
  // write(w, "1", prctl(PR_GET_DUMPABLE)): one byte if dumpable, none if not.
  const result = spawn([
    { call: "prctl", args: [PR_GET_DUMPABLE, 0, 0, 0, 0], label: "get dumpable" },
    WAIT,
    { call: "write", args: [w, "1", { ref: 0 }], label: "report" },
    TRUE,
  ]);
  t.close(w);
  const [said, { failed }] = await Promise.all([drain(r), result]);
  assert.equal(failed, null);
  assert.equal(said, "", "PR_GET_DUMPABLE was 0");
});

Deno.test("trampoline: close_fds closes every descriptor but the kept ones", async () => {
  const [keptR, keptW] = pipe();
  const [goneR, goneW] = pipe();
  const result = spawn([
    WAIT,
    { call: "close_fds", args: [keptW], label: "close" },
    { call: "write", args: [keptW, "kept", 4], label: "write kept" },
    { call: "write", args: [goneW, "x", 1], label: "write closed" },
    TRUE,
  ]);
  t.close(keptW);
  t.close(goneW);
  const [said, { failed, code }] = await Promise.all([drain(keptR), result]);
  t.close(goneR);
  assert.equal(said, "kept");
  assert.deepEqual(failed, { op: 3, errno: 9 }, "EBADF: closed, not only close-on-exec");
  assert.equal(code, 125);
});

Deno.test("trampoline: check_parent lets the child of a living parent go on", async () => {
  const r = await spawn([
    WAIT,
    { call: "prctl", args: [K.PR_SET_PDEATHSIG, K.SIGKILL, 0, 0, 0], label: "pdeathsig" },
    { call: "check_parent", args: [], label: "check" },
    { call: "reset_signals", args: [], label: "reset" },
    { call: "init", args: [], label: "init" },
    { call: "check_parent", args: [], label: "check the init" },
    { call: "rt_sigprocmask", args: [K.SIG_SETMASK, new Uint8Array(8), null, 8], label: "unblock" },
    { call: "execve", args: ["/bin/sh", ["sh", "-c", "exit 4"], []], label: "e", exec: true },
  ]);
  assert.equal(r.failed, null);
  assert.equal(r.code, 4);
});
