import assert from "node:assert/strict";
import { ContainerError } from "../../lib/errors.ts";
import {
  AUDIT_ARCH,
  compileSeccomp,
  defaultSeccompProfile,
  parseSeccompProfile,
  SECCOMP_RET,
  seccompOps,
  X32_SYSCALL_BIT,
} from "../../lib/security/seccomp.ts";

const DEFAULT_SECCOMP_PROFILE = defaultSeccompProfile();
import { PRECOMPILED } from "../../lib/security/seccomp_default_bpf.ts";
import { type SyscallAbi, syscallNumbers } from "../../lib/security/syscall_tables.ts";
import { syscallTable } from "../../ffi/syscalls.ts";
import { encodePlan } from "../../ffi/plan.ts";
import type { Seccomp } from "../../lib/spec.ts";

// --- A classic BPF interpreter, independent of the compiler ---------------

interface Data {
  nr: number;
  arch: number;
  args?: bigint[];
}

/** Runs a struct sock_filter array on a seccomp_data the way the kernel does. */
function runFilter(filter: Uint8Array, d: Data): number {
  const data = new DataView(new ArrayBuffer(64));
  data.setInt32(0, d.nr, true);
  data.setUint32(4, d.arch, true);
  (d.args ?? []).forEach((a, i) => data.setBigUint64(16 + 8 * i, BigInt.asUintN(64, a), true));
  const prog = new DataView(filter.buffer, filter.byteOffset, filter.byteLength);
  const count = filter.length / 8;
  let a = 0;
  for (let pc = 0; pc < count; pc++) {
    const code = prog.getUint16(pc * 8, true);
    const jt = prog.getUint8(pc * 8 + 2);
    const jf = prog.getUint8(pc * 8 + 3);
    const k = prog.getUint32(pc * 8 + 4, true);
    switch (code) {
      case 0x20: // BPF_LD | BPF_W | BPF_ABS
        assert.ok(k % 4 === 0 && k < 64, `load at ${k}`);
        a = data.getUint32(k, true);
        break;
      case 0x54: // BPF_ALU | BPF_AND | BPF_K
        a = (a & k) >>> 0;
        break;
      case 0x05: // BPF_JMP | BPF_JA
        pc += k;
        break;
      case 0x15: // JEQ
        pc += a === k ? jt : jf;
        break;
      case 0x25: // JGT
        pc += a > k ? jt : jf;
        break;
      case 0x35: // JGE
        pc += a >= k ? jt : jf;
        break;
      case 0x45: // JSET
        pc += (a & k) !== 0 ? jt : jf;
        break;
      case 0x06: // RET
        return k;
      default:
        throw new Error(`unknown BPF instruction ${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error("the program ran off its end");
}

const ALLOW = SECCOMP_RET.ALLOW;
const errno = (e: number) => (SECCOMP_RET.ERRNO | e) >>> 0;
const EPERM = errno(1);
const ENOSYS = errno(38);

const X86 = syscallNumbers("x86_64");
const nr = (name: string, abi: SyscallAbi = "x86_64") => {
  const n = syscallNumbers(abi).get(name);
  assert.ok(n !== undefined, `${name} on ${abi}`);
  return n;
};
const x86 = (name: string, ...args: bigint[]): Data => ({
  nr: nr(name),
  arch: AUDIT_ARCH.X86_64,
  args,
});

const filter = compileSeccomp(DEFAULT_SECCOMP_PROFILE, "x86_64", { precompiled: false });
const verdict = (d: Data, f = filter) => runFilter(f, d);

// --- The default profile on x86_64 ---------------------------------------

Deno.test("seccomp default: ordinary calls are allowed", () => {
  for (const name of ["read", "write", "openat", "execve", "exit_group", "futex", "mmap"]) {
    assert.equal(verdict(x86(name)), ALLOW, name);
  }
});

Deno.test("seccomp default: mount, keyring, modules, kexec, bpf, perf, userfaultfd are EPERM", () => {
  for (
    const name of [
      "mount",
      "umount2",
      "unshare",
      "setns",
      "keyctl",
      "add_key",
      "request_key",
      "kexec_load",
      "open_by_handle_at",
      "init_module",
      "finit_module",
      "delete_module",
      "bpf",
      "perf_event_open",
      "userfaultfd",
      "pivot_root",
    ]
  ) {
    assert.equal(verdict(x86(name)), EPERM, name);
  }
});

Deno.test("seccomp default: clone may not create namespaces; clone3 is ENOSYS", () => {
  const threadFlags = 0x003d0f00n; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
  assert.equal(verdict(x86("clone", threadFlags)), ALLOW);
  assert.equal(verdict(x86("clone", 17n)), ALLOW); // fork: SIGCHLD
  assert.equal(verdict(x86("clone", 0x10000000n | 17n)), EPERM); // CLONE_NEWUSER
  assert.equal(verdict(x86("clone", 0x20000000n)), EPERM); // CLONE_NEWPID
  assert.equal(verdict(x86("clone", 0x00020000n)), EPERM); // CLONE_NEWNS
  // Flags are a full 64-bit argument: a high bit set does not hide NEWUSER.
  assert.equal(verdict(x86("clone", (1n << 40n) | 0x10000000n)), EPERM);
  assert.equal(verdict(x86("clone3")), ENOSYS);
});

Deno.test("seccomp default: ioctl TIOCSTI is EPERM, other ioctls allowed, high bits don't matter", () => {
  assert.equal(verdict(x86("ioctl", 0n, 0x5412n)), EPERM);
  assert.equal(verdict(x86("ioctl", 0n, 0x1_0000_5412n)), EPERM);
  assert.equal(verdict(x86("ioctl", 0n, 0x541cn)), EPERM); // TIOCLINUX
  assert.equal(verdict(x86("ioctl", 0n, 0x5401n)), ALLOW); // TCGETS
  assert.equal(verdict(x86("ioctl", 0n, 0x5413n)), ALLOW); // TIOCGWINSZ
});

Deno.test("seccomp default: socket except AF_ALG and AF_VSOCK; only harmless personalities", () => {
  assert.equal(verdict(x86("socket", 2n)), ALLOW);
  assert.equal(verdict(x86("socket", 37n)), ALLOW);
  assert.equal(verdict(x86("socket", 38n)), EPERM); // AF_ALG
  assert.equal(verdict(x86("socket", 39n)), ALLOW);
  assert.equal(verdict(x86("socket", 40n)), EPERM); // AF_VSOCK
  assert.equal(verdict(x86("socket", 41n)), ALLOW);
  assert.equal(verdict(x86("personality", 0n)), ALLOW);
  assert.equal(verdict(x86("personality", 0xffffffffn)), ALLOW);
  assert.equal(verdict(x86("personality", 0x0040000n)), EPERM); // READ_IMPLIES_EXEC
});

Deno.test("seccomp default: x32 calls use the x32 table; unknown x32 numbers get the default", () => {
  const x32 = (n: number, ...args: bigint[]): Data => ({
    nr: X32_SYSCALL_BIT + n,
    arch: AUDIT_ARCH.X86_64,
    args,
  });
  assert.equal(verdict(x32(nr("read", "x32"))), ALLOW);
  assert.equal(verdict(x32(nr("mount", "x32"))), EPERM);
  assert.equal(verdict(x32(nr("ioctl", "x32"), 0n, 0x5412n)), EPERM);
  assert.equal(verdict(x32(nr("ioctl", "x32"), 0n, 0x5401n)), ALLOW);
  assert.equal(verdict(x32(999)), EPERM);
  // Without SCMP_ARCH_X32 in the profile, x32 calls get the default action.
  const noX32 = { ...DEFAULT_SECCOMP_PROFILE, architectures: ["SCMP_ARCH_X86_64"] };
  const f = compileSeccomp(noX32, "x86_64");
  assert.equal(verdict(x32(nr("read", "x32")), f), EPERM);
  assert.equal(verdict(x86("read"), f), ALLOW);
});

Deno.test("seccomp default: i386 calls use the i386 table when SCMP_ARCH_X86 is listed", () => {
  const i386 = (name: string, ...args: bigint[]): Data => ({
    nr: nr(name, "i386"),
    arch: AUDIT_ARCH.I386,
    args,
  });
  assert.equal(verdict(i386("read")), ALLOW);
  assert.equal(verdict(i386("chown32")), ALLOW);
  assert.equal(verdict(i386("mount")), EPERM);
  assert.equal(verdict(i386("keyctl")), EPERM);
  assert.equal(verdict(i386("clone", 0x10000000n)), EPERM);
  assert.equal(verdict(i386("clone", 17n)), ALLOW);
  const noI386 = { ...DEFAULT_SECCOMP_PROFILE, architectures: ["SCMP_ARCH_X86_64"] };
  assert.equal(verdict(i386("read"), compileSeccomp(noI386, "x86_64")), EPERM);
});

Deno.test("seccomp default: a foreign arch value is not allowed", () => {
  // aarch64's read (63) is x86_64's exit... the arch check must catch it.
  assert.equal(verdict({ nr: 63, arch: AUDIT_ARCH.AARCH64 }), EPERM);
  assert.equal(verdict({ nr: 0, arch: 0x12345678 }), EPERM);
  // A blocklist profile still refuses foreign ABIs (ENOSYS), never allows them.
  const blocklist: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mount"], action: "SCMP_ACT_ERRNO" }],
  };
  const f = compileSeccomp(blocklist, "x86_64");
  assert.equal(verdict(x86("read"), f), ALLOW);
  assert.equal(verdict(x86("mount"), f), EPERM);
  assert.equal(verdict({ nr: 21, arch: AUDIT_ARCH.I386 }, f), ENOSYS);
  assert.equal(verdict({ nr: X32_SYSCALL_BIT + 165, arch: AUDIT_ARCH.X86_64 }, f), ENOSYS);
});

Deno.test("seccomp default on aarch64: same decisions with aarch64 numbers", () => {
  const f = compileSeccomp(DEFAULT_SECCOMP_PROFILE, "aarch64", { precompiled: false });
  const a64 = (name: string, ...args: bigint[]): Data => ({
    nr: nr(name, "aarch64"),
    arch: AUDIT_ARCH.AARCH64,
    args,
  });
  assert.equal(verdict(a64("read"), f), ALLOW);
  assert.equal(verdict(a64("mount"), f), EPERM);
  assert.equal(verdict(a64("keyctl"), f), EPERM);
  assert.equal(verdict(a64("clone", 0x10000000n), f), EPERM);
  assert.equal(verdict(a64("clone", 17n), f), ALLOW);
  assert.equal(verdict(a64("ioctl", 0n, 0x5412n), f), EPERM);
  assert.equal(verdict({ nr: 0, arch: AUDIT_ARCH.X86_64 }, f), EPERM);
});

Deno.test("seccomp default: docker's moby 25+ decisions: io_uring refused, newer calls as docker", () => {
  const arm = compileSeccomp(DEFAULT_SECCOMP_PROFILE, "aarch64", { precompiled: false });
  for (const name of ["io_uring_setup", "io_uring_enter", "io_uring_register"]) {
    assert.equal(verdict(x86(name)), EPERM, name);
    assert.equal(verdict({ nr: nr(name, "aarch64"), arch: AUDIT_ARCH.AARCH64 }, arm), EPERM, name);
  }
  // Not in docker's profile: refused like any call added after it.
  for (const name of ["file_getattr", "file_setattr", "listns", "get_mempolicy"]) {
    assert.equal(verdict(x86(name)), EPERM, name);
  }
  for (const name of ["listmount", "statmount", "uretprobe", "mseal", "cachestat"]) {
    assert.equal(verdict(x86(name)), ALLOW, name);
  }
  assert.equal(verdict(x86("lsm_list_modules")), EPERM); // CAP_SYS_ADMIN only
  const admin = compileSeccomp(defaultSeccompProfile(["CAP_SYS_ADMIN", "CAP_SYS_NICE"]), "x86_64");
  assert.equal(verdict(x86("lsm_list_modules"), admin), ALLOW);
  assert.equal(verdict(x86("get_mempolicy"), admin), ALLOW);
});

Deno.test("seccomp: a capability opens the calls it governs, as docker does", () => {
  const f = compileSeccomp(
    defaultSeccompProfile(["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_CHROOT"]),
    "x86_64",
  );
  assert.equal(verdict(x86("mount"), f), ALLOW);
  assert.equal(verdict(x86("unshare"), f), ALLOW);
  assert.equal(verdict(x86("clone", 0x10000000n), f), ALLOW);
  assert.equal(verdict(x86("clone3"), f), ALLOW);
  assert.equal(verdict(x86("kcmp"), f), ALLOW);
  assert.equal(verdict(x86("keyctl"), f), EPERM);
  assert.equal(verdict(x86("chroot")), ALLOW); // CAP_SYS_CHROOT is a default capability
  assert.equal(verdict(x86("chroot"), compileSeccomp(defaultSeccompProfile([]), "x86_64")), EPERM);
});

// --- The compiler against a reference evaluation of profiles ---------------

const U64 = (1n << 64n) - 1n;

/** What a profile means, evaluated directly (the semantics the compiler documents). */
function reference(profile: Seccomp, d: Data): number {
  const value = (action: string, e?: number) => {
    switch (action) {
      case "SCMP_ACT_ALLOW":
        return ALLOW;
      case "SCMP_ACT_ERRNO":
        return errno(e ?? 1);
      case "SCMP_ACT_KILL_PROCESS":
        return SECCOMP_RET.KILL_PROCESS;
      case "SCMP_ACT_KILL":
        return SECCOMP_RET.KILL_THREAD;
      case "SCMP_ACT_TRAP":
        return SECCOMP_RET.TRAP;
      case "SCMP_ACT_LOG":
        return SECCOMP_RET.LOG;
    }
    throw new Error(action);
  };
  const fallback = value(profile.defaultAction, profile.defaultErrnoRet);
  if (d.arch !== AUDIT_ARCH.X86_64 || d.nr >= X32_SYSCALL_BIT || d.nr < 0) {
    return fallback === ALLOW || fallback === SECCOMP_RET.LOG ? ENOSYS : fallback;
  }
  const args = (d.args ?? []).map((a) => BigInt.asUintN(64, a));
  const arg = (i: number) => args[i] ?? 0n;
  const holds = (c: { index: number; value: number; valueTwo?: number; op: string }) => {
    const a = arg(c.index);
    const v = BigInt(c.value) & U64;
    switch (c.op) {
      case "SCMP_CMP_EQ":
        return a === v;
      case "SCMP_CMP_NE":
        return a !== v;
      case "SCMP_CMP_LT":
        return a < v;
      case "SCMP_CMP_LE":
        return a <= v;
      case "SCMP_CMP_GT":
        return a > v;
      case "SCMP_CMP_GE":
        return a >= v;
      case "SCMP_CMP_MASKED_EQ":
        return (a & v) === BigInt(c.valueTwo ?? 0);
    }
    throw new Error(c.op);
  };
  const name = [...X86].find(([, n]) => n === d.nr)?.[0];
  const rules = (profile.syscalls ?? []).filter((r) => name && r.names.includes(name));
  for (const r of rules) {
    if (!r.args?.length) continue;
    const indexes = r.args.map((c) => c.index);
    const orForm = new Set(indexes).size < indexes.length;
    if (orForm ? r.args.some(holds) : r.args.every(holds)) return value(r.action, r.errnoRet);
  }
  const plain = rules.find((r) => !r.args?.length);
  return plain ? value(plain.action, plain.errnoRet) : fallback;
}

/** A deterministic pseudo-random source (mulberry32). */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("seccomp compiler: random profiles agree with the reference on random calls", () => {
  const rnd = random(4);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)];
  const names = ["read", "write", "ioctl", "clone", "socket", "mmap", "kill", "prctl", "openat"];
  const ops = ["EQ", "NE", "LT", "LE", "GT", "GE", "MASKED_EQ"].map((o) => `SCMP_CMP_${o}`);
  const actions = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_LOG"];
  // Interesting values: around 2^32, 0, small, large 64-bit.
  const values = [0, 1, 2, 7, 0x5412, 0xffffffff, 0x100000000, 0x100000001, 2 ** 40, 2 ** 52 + 3];
  const argValues = [...values.map(BigInt), 0xffffffff_ffffffffn, 0x1_00005412n, 3n, 6n, 8n];
  for (let round = 0; round < 60; round++) {
    const profile: Seccomp = {
      defaultAction: pick(["SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW", "SCMP_ACT_KILL_PROCESS"]),
      defaultErrnoRet: 13,
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => ({
        names: [pick(names), ...(rnd() < 0.3 ? [pick(names)] : [])],
        action: pick(actions),
        errnoRet: Math.floor(rnd() * 100),
        args: rnd() < 0.3 ? undefined : Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => ({
          index: Math.floor(rnd() * 3),
          value: pick(values),
          valueTwo: pick(values),
          op: pick(ops),
        })),
      })),
    };
    const f = compileSeccomp(profile, "x86_64");
    for (let call = 0; call < 80; call++) {
      const d = x86(pick(names), pick(argValues), pick(argValues), pick(argValues));
      assert.equal(
        runFilter(f, d),
        reference(profile, d),
        `round ${round}, ${JSON.stringify(profile)}, call ${d.nr} ${d.args}`,
      );
    }
  }
});

Deno.test("seccomp compiler: jumps longer than 255 instructions land right", () => {
  // 400 argument rules on one call make a block far longer than an 8-bit
  // jump, between the search's comparisons and the calls after it.
  const profile: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    // With i386 listed, the arch check needs no unconditional jump: every
    // BPF_JA in the program is a long-jump island.
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    syscalls: [
      ...Array.from({ length: 400 }, (_, i) => ({
        names: ["ioctl"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1000 + i,
        args: [{ index: 1, value: i, op: "SCMP_CMP_EQ" }],
      })),
      { names: ["ioctl", "read", "write", "exit_group", "openat"], action: "SCMP_ACT_ALLOW" },
    ],
  };
  const f = compileSeccomp(profile, "x86_64");
  const count = f.length / 8;
  assert.ok(count > 400 * 4, `${count} instructions`);
  const view = new DataView(f.buffer, f.byteOffset);
  const islands = Array.from({ length: count }, (_, pc) => view.getUint16(pc * 8, true))
    .filter((code) => code === 0x05).length;
  assert.ok(islands > 0, "the program needed long jumps");
  for (let i = 0; i < 400; i++) {
    assert.equal(runFilter(f, x86("ioctl", 0n, BigInt(i))), errno(1000 + i), `ioctl ${i}`);
    const i386 = { nr: nr("ioctl", "i386"), arch: AUDIT_ARCH.I386, args: [0n, BigInt(i)] };
    assert.equal(runFilter(f, i386), errno(1000 + i), `i386 ioctl ${i}`);
  }
  assert.equal(runFilter(f, x86("ioctl", 0n, 400n)), ALLOW);
  for (const name of ["read", "write", "exit_group", "openat"]) {
    assert.equal(runFilter(f, x86(name)), ALLOW, name);
  }
  assert.equal(runFilter(f, x86("mount")), EPERM);
  assert.equal(runFilter(f, { nr: nr("read", "i386"), arch: AUDIT_ARCH.I386 }), ALLOW);
  assert.equal(runFilter(f, { nr: nr("mount", "i386"), arch: AUDIT_ARCH.I386 }), EPERM);
});

Deno.test("seccomp compiler: a profile past the kernel's 4096 instructions is refused", () => {
  const profile: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: Array.from({ length: 1500 }, (_, i) => ({
      names: ["ioctl"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 1, value: i, op: "SCMP_CMP_EQ" }],
    })),
  };
  assert.throws(() => compileSeccomp(profile, "x86_64"), /more than the kernel's 4096/);
});

// --- Tables, precompiled filters, ops --------------------------------------

Deno.test("seccomp tables agree with the runtime's own syscall table", () => {
  for (const arch of ["x86_64", "aarch64"] as const) {
    const own = syscallTable(arch);
    const table = syscallNumbers(arch);
    for (const [name, number] of Object.entries(own)) {
      assert.equal(table.get(name), number, `${arch} ${name}`);
    }
  }
  assert.equal(syscallNumbers("i386").get("socketcall"), 102);
  assert.equal(syscallNumbers("x32").get("execve"), 520);
});

Deno.test("seccomp: the stored default filters are what the compiler produces now", () => {
  const regenerate = "stale: run deno run -A lib/security/seccomp_default_bpf_gen.ts";
  assert.ok(PRECOMPILED.profile === JSON.stringify(DEFAULT_SECCOMP_PROFILE), regenerate);
  for (const arch of ["x86_64", "aarch64"]) {
    const fresh = compileSeccomp(DEFAULT_SECCOMP_PROFILE, arch, { precompiled: false });
    assert.ok(PRECOMPILED.filters[arch] === fresh.toBase64(), `${arch}: ${regenerate}`);
  }
  // An equal profile (not the same object) takes the stored filter.
  assert.deepEqual(compileSeccomp(defaultSeccompProfile(), "x86_64"), filter);
  assert.deepEqual(
    compileSeccomp(defaultSeccompProfile(), "x86_64"),
    Uint8Array.fromBase64(PRECOMPILED.filters.x86_64),
  );
});

Deno.test("seccompOps: one seccomp op pointing at the filter; none when unconfined", () => {
  assert.deepEqual(seccompOps(undefined), []);
  const [op] = seccompOps(DEFAULT_SECCOMP_PROFILE, "x86_64");
  const count = filter.length / 8;
  assert.equal(op.call, "seccomp");
  assert.equal(op.label, `seccomp load filter (${count} instructions)`);
  assert.equal(op.args[0], 1); // SECCOMP_SET_MODE_FILTER
  const fprog = op.args[2] as { bytes: Uint8Array; pointers: { at: number; to: Uint8Array }[] };
  assert.equal(new DataView(fprog.bytes.buffer).getUint16(0, true), count);
  assert.deepEqual(fprog.pointers[0].to, filter);
  // The encoder lays out the struct and patches the pointer to the filter.
  const plan = encodePlan([op], false, "x86_64");
  assert.equal(plan.count, 1);
});

Deno.test("seccompOps: a profile that denies execve is refused up front", () => {
  const profile: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["execve"], action: "SCMP_ACT_ERRNO" }],
  };
  assert.throws(() => seccompOps(profile), ContainerError);
  assert.throws(() => seccompOps({ defaultAction: "SCMP_ACT_ERRNO" }), /execve/);
});

// --- Profiles from JSON ----------------------------------------------------

Deno.test("parseSeccompProfile: docker's format, archMap, name/names, includes", () => {
  const json = JSON.stringify({
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"] }],
    syscalls: [
      { names: ["read", "write", "execve"], action: "SCMP_ACT_ALLOW" },
      { name: "mount", action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
      {
        names: ["clone3"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 38,
        excludes: { caps: ["CAP_SYS_ADMIN"] },
      },
      {
        names: ["socket"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 40, valueTwo: 0, op: "SCMP_CMP_NE" }],
        comment: "no vsock",
      },
    ],
  });
  const p = parseSeccompProfile(json, "/p.json", { capabilities: ["CAP_CHOWN"] });
  assert.deepEqual(p.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
  assert.deepEqual(p.syscalls?.map((s) => s.names), [["read", "write", "execve"], ["clone3"], [
    "socket",
  ]]);
  assert.equal(p.syscalls?.[1].errnoRet, 38);
  const admin = parseSeccompProfile(json, "/p.json", { capabilities: ["CAP_SYS_ADMIN"] });
  assert.deepEqual(admin.syscalls?.map((s) => s.names), [["read", "write", "execve"], ["mount"], [
    "socket",
  ]]);
  const f = compileSeccomp(p, "x86_64");
  assert.equal(runFilter(f, x86("socket", 40n)), EPERM);
  assert.equal(runFilter(f, x86("clone3")), ENOSYS);
});

Deno.test("parseSeccompProfile: malformed profiles name the file and the problem", () => {
  const bad = (json: string, message: RegExp) =>
    assert.throws(() => parseSeccompProfile(json, "/etc/p.json"), (e: unknown) => {
      assert.ok(e instanceof ContainerError);
      assert.equal(e.exitCode, 125);
      assert.match(e.message, /^seccomp profile \/etc\/p\.json: /);
      assert.match(e.message, message);
      return true;
    });
  bad("{", /not valid JSON/);
  bad("[]", /not a JSON object/);
  bad("{}", /defaultAction is missing/);
  bad('{"defaultAction":"SCMP_ACT_NOPE"}', /unknown action "SCMP_ACT_NOPE"/);
  bad('{"defaultAction":"SCMP_ACT_NOTIFY"}', /not supported/);
  bad('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}', /syscalls must be a list/);
  bad(
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}',
    /syscalls\[0\] has neither/,
  );
  bad(
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}',
    /args\[0\]\.index must be 0 to 5/,
  );
  bad(
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}',
    /unknown comparison "SCMP_CMP_XX"/,
  );
  bad('{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":-1}', /defaultErrnoRet/);
  bad('{"defaultAction":"SCMP_ACT_ALLOW","architectures":["X86"]}', /unknown architecture "X86"/);
  bad(
    '{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}',
    /unsupported flag/,
  );
});

Deno.test("parseSeccompProfile: a NUL byte anywhere, or an odd architecture, is a sentence", () => {
  for (
    const [json, where] of [
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64\\u0000"]}',
        /architectures\[0\] holds a NUL byte/,
      ],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","includes":{"caps":["CAP_X\\u0000"]}}]}',
        /syscalls\[0\]\.includes\.caps\[0\] holds a NUL byte/,
      ],
      ['{"defaultAction":"SCMP_ACT_ALLOW","x\\u0000":1}', /x\0 holds a NUL byte/],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_x86 64"]}',
        /unknown architecture/,
      ],
    ] as const
  ) {
    assert.throws(
      () => parseSeccompProfile(json, "/p.json"),
      (e: unknown) => e instanceof ContainerError && where.test(e.message),
      json,
    );
  }
});

Deno.test("seccompOps: a profile that kills on execveat (the exec helper's) is refused; one with an errno is not", () => {
  const profile = (action: string, defaultAction = "SCMP_ACT_ALLOW"): Seccomp => ({
    defaultAction,
    syscalls: [{ names: ["execve"], action: "SCMP_ACT_ALLOW" }, { names: ["execveat"], action }],
  });
  for (const action of ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"]) {
    assert.throws(() => seccompOps(profile(action), "x86_64"), /kills on execveat/, action);
  }
  assert.throws(
    () =>
      seccompOps({
        defaultAction: "SCMP_ACT_KILL",
        syscalls: [{ names: ["execve"], action: "SCMP_ACT_ALLOW" }],
      }),
    /kills on execveat/,
  );
  for (const action of ["SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"]) {
    assert.equal(seccompOps(profile(action), "x86_64").length, 1, action);
  }
});
