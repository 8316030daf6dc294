import assert from "node:assert/strict";
import { encodePlan, insertOps, type Op, OP_WORDS } from "../../ffi/plan.ts";
import { syscallTable } from "../../ffi/syscalls.ts";

function word(buf: Uint8Array, op: number, k: number): bigint {
  return new DataView(buf.buffer).getBigInt64((op * OP_WORDS + k) * 8, true);
}

function cStringAt(address: bigint): string {
  return Deno.UnsafePointerView.getCString(Deno.UnsafePointer.create(address)!);
}

Deno.test("encoder: syscall names become this machine's numbers, special ops negative", () => {
  const plan: Op[] = [
    { call: "wait_sync", args: [5], label: "wait" },
    { call: "mount", args: [null, "/", null, 1, null], label: "m" },
    { call: "init", args: [], label: "i" },
  ];
  const { buffer, count } = encodePlan(plan, false, "x86_64");
  assert.equal(count, 3);
  assert.equal(word(buffer, 0, 0), -1n);
  assert.equal(word(buffer, 0, 1), 5n);
  assert.equal(word(buffer, 1, 0), BigInt(syscallTable("x86_64").mount));
  assert.equal(word(buffer, 1, 0), 165n);
  assert.equal(word(buffer, 2, 0), -2n);
  assert.equal(encodePlan(plan, false, "aarch64").buffer.length > 0, true);
  assert.equal(word(encodePlan(plan, false, "aarch64").buffer, 1, 0), 40n);
});

Deno.test("encoder: strings, NULL and numbers are laid out as C expects", () => {
  const { buffer } = encodePlan([{
    call: "mount",
    args: ["proc", "/x/proc", "proc", 14, null],
    label: "m",
  }]);
  assert.equal(cStringAt(word(buffer, 0, 1)), "proc");
  assert.equal(cStringAt(word(buffer, 0, 2)), "/x/proc");
  assert.equal(word(buffer, 0, 4), 14n);
  assert.equal(word(buffer, 0, 5), 0n);
});

Deno.test("encoder: argv arrays are NULL-terminated pointer arrays", () => {
  const { buffer } = encodePlan([
    { call: "execve", args: ["/bin/sh", ["sh", "-c", "echo hi"], ["A=1"]], label: "e", exec: true },
  ]);
  const argv = word(buffer, 0, 2);
  const view = new Deno.UnsafePointerView(Deno.UnsafePointer.create(argv)!);
  const ptrs = [0, 8, 16, 24].map((o) => view.getBigUint64(o));
  assert.deepEqual(ptrs.slice(0, 3).map(cStringAt), ["sh", "-c", "echo hi"]);
  assert.equal(ptrs[3], 0n);
  assert.equal(argv % 8n, 0n);
});

Deno.test("encoder: references to earlier results set the refmask, forward references fail", () => {
  const { buffer } = encodePlan([
    { call: "socket", args: [2, 2, 0], label: "s" },
    { call: "close", args: [{ ref: 0 }], label: "c" },
  ]);
  assert.equal(word(buffer, 1, 1), 0n);
  assert.equal(word(buffer, 1, 7), 1n);
  assert.throws(
    () => encodePlan([{ call: "close", args: [{ ref: 0 }], label: "c" }]),
    /refers to op 0/,
  );
});

Deno.test("encoder: tolerated errnos and debug lines", () => {
  const { buffer } = encodePlan(
    [{
      call: "mkdirat",
      args: [-100, "/d", 0o755],
      label: "mkdir /d",
      tolerate: ["EEXIST", "ENOENT"],
    }],
    true,
  );
  assert.equal(word(buffer, 0, 8), 17n);
  assert.equal(word(buffer, 0, 9), 2n);
  assert.equal(word(buffer, 0, 10), 0n);
  const line = new Deno.UnsafePointerView(Deno.UnsafePointer.create(word(buffer, 0, 12))!);
  const bytes = new Uint8Array(Number(word(buffer, 0, 13)));
  line.copyInto(bytes);
  assert.equal(new TextDecoder().decode(bytes), "mkdir /d ok\n");
  // The time the child's "[child +T ms]" counts from: Deno's time origin by default.
  assert.equal(word(buffer, 0, 15), BigInt(Math.round(performance.timeOrigin * 1000)));
  assert.equal(
    word(encodePlan([{ call: "umask", args: [0], label: "u" }], 1234).buffer, 0, 15),
    1234n,
  );
});

Deno.test("encoder: structs get the addresses of their targets patched in", () => {
  const fprog = new Uint8Array(16);
  new DataView(fprog.buffer).setUint16(0, 1, true);
  const filter = new Uint8Array([6, 0, 0, 0, 0, 0, 0xff, 0x7f]);
  const { buffer } = encodePlan([
    {
      call: "seccomp",
      args: [1, 0, { bytes: fprog, pointers: [{ at: 8, to: filter }] }],
      label: "s",
    },
  ]);
  const address = word(buffer, 0, 3);
  const view = new Deno.UnsafePointerView(Deno.UnsafePointer.create(address)!);
  assert.equal(view.getUint16(0), 1);
  const target = new Uint8Array(8);
  new Deno.UnsafePointerView(Deno.UnsafePointer.create(view.getBigUint64(8))!).copyInto(target);
  assert.deepEqual(target, filter);
});

Deno.test("encoder: rejects NUL inside strings and empty plans", () => {
  assert.throws(() => encodePlan([{ call: "chdir", args: ["a\0b"], label: "c" }]), /NUL/);
  assert.throws(() => encodePlan([]), /1 to/);
});

Deno.test("insertOps: references keep pointing at the ops they meant", () => {
  const plan: Op[] = [
    { call: "setsid", args: [], label: "a" },
    { call: "dup3", args: [{ ref: 0 }, 5, 0], label: "b" },
    { call: "close", args: [{ back: 1 }], label: "c" },
    { call: "close", args: [{ back: 3 }], label: "d" },
    { call: "close", args: [{ ref: 2 }], label: "e" },
  ];
  const extra: Op[] = [
    { call: "setsid", args: [], label: "x" },
    { call: "close", args: [{ back: 1 }], label: "y" },
  ];
  const out = insertOps(plan, 2, extra);
  assert.deepEqual(out.map((o) => o.label), ["a", "b", "x", "y", "c", "d", "e"]);
  const target = (i: number) => {
    const r = out[i].args[0] as { ref: number } | { back: number };
    return "ref" in r ? out[r.ref].label : out[i - r.back].label;
  };
  assert.equal(target(1), "a");
  assert.equal(target(3), "x", "a reference inside the inserted ops is theirs");
  assert.equal(target(4), "b");
  assert.equal(target(5), "a");
  assert.equal(target(6), "c");
  encodePlan(out); // still a valid plan
});
