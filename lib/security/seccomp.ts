/**
 * Seccomp in TypeScript, without libseccomp: a profile (the OCI/Docker
 * format) compiled to a classic BPF program, and the op that loads it in the
 * container's child.
 *
 * The program checks the architecture first (seccomp_data.arch), then finds
 * the call by a binary search over ranges of syscall numbers (a handful of
 * comparisons instead of one per rule), then, for calls with argument rules,
 * compares the 64-bit arguments as two 32-bit halves.
 *
 * Rule semantics, per call: rules with argument conditions are tried first,
 * in profile order, and the first that matches decides; then the first rule
 * without conditions; then the default action. Within a rule, conditions on
 * different arguments must all hold; several conditions on the same argument
 * become one rule each (either may hold), as runc does. Names a table does
 * not know (chown32 on x86_64) are skipped, as libseccomp does.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { ContainerError } from "../errors.ts";
import type { Seccomp } from "../spec.ts";
import { BPF, BPF_MAX_INSTRUCTIONS, BpfProgram, type Label, SOCK_FILTER_SIZE } from "./bpf.ts";
import { PRECOMPILED } from "./seccomp_default_bpf.ts";
import { SECCOMP_FLAGS } from "./seccomp_profile.ts";
import { type SyscallAbi, syscallNumbers } from "./syscall_tables.ts";

export { parseSeccompProfile, readSeccompProfile } from "./seccomp_profile.ts";
export { defaultSeccompProfile } from "./seccomp_default.ts";

/** SECCOMP_RET_* values (linux/seccomp.h). */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** AUDIT_ARCH_* values found in seccomp_data.arch (linux/audit.h). */
export const AUDIT_ARCH = {
  X86_64: 0xc000003e,
  I386: 0x40000003,
  AARCH64: 0xc00000b7,
} as const;

/** The bit x32 system calls carry in their number on x86_64 (__X32_SYSCALL_BIT). */
export const X32_SYSCALL_BIT = 0x40000000;

/** Offsets in struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6]. */
const DATA_NR = 0;
const DATA_ARCH = 4;
const dataArg = (index: number) => 16 + 8 * index;

const SECCOMP_SET_MODE_FILTER = 1;
const EPERM = 1;
const ENOSYS = 38;

/** The value a filter returns for `action` (errnoRet for ERRNO and TRACE). */
export function actionValue(action: string, errnoRet?: number): number {
  switch (action) {
    case "SCMP_ACT_ALLOW":
      return SECCOMP_RET.ALLOW;
    case "SCMP_ACT_ERRNO":
      return (SECCOMP_RET.ERRNO | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return SECCOMP_RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return SECCOMP_RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return SECCOMP_RET.TRAP;
    case "SCMP_ACT_TRACE":
      return (SECCOMP_RET.TRACE | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
    case "SCMP_ACT_LOG":
      return SECCOMP_RET.LOG;
  }
  throw new ContainerError("seccomp", undefined, undefined, `unknown action ${action}`);
}

interface Condition {
  index: number;
  op: string;
  value: bigint;
  valueTwo: bigint;
}

interface Rule {
  action: number;
  conditions: Condition[];
}

/** What the profile says about one system call number. */
interface Entry {
  conditional: Rule[];
  unconditional?: number;
}

/** One ABI's part of the program: which table, and how its numbers and arguments look. */
interface Section {
  abi: SyscallAbi;
  /** Added to the table's numbers (the x32 bit). */
  base: number;
  /** The range of seccomp_data.nr this section is reached with. */
  low: number;
  high: number;
  /** 32-bit ABIs compare only the low half of each argument, as libseccomp does. */
  argBits: 32 | 64;
}

const U32 = 0xffffffff;
const U64 = (1n << 64n) - 1n;

function toU64(n: number): bigint {
  return BigInt.asUintN(64, BigInt(Math.trunc(n))) & U64;
}

/** What the profile says about each call, by name; names' order of first mention. */
function rulesByName(profile: Seccomp): Map<string, Entry> {
  const byName = new Map<string, Entry>();
  for (const rule of profile.syscalls ?? []) {
    const action = actionValue(rule.action, rule.errnoRet);
    const conditions: Condition[] = (rule.args ?? []).map((a) => {
      if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) {
        throw new ContainerError("seccomp", undefined, undefined, `argument index ${a.index}`);
      }
      return { index: a.index, op: a.op, value: toU64(a.value), valueTwo: toU64(a.valueTwo ?? 0) };
    });
    // libseccomp cannot AND two conditions on one argument; runc then adds
    // each condition as a rule of its own. Do the same so profiles mean
    // what they mean under runc.
    const indexes = conditions.map((c) => c.index);
    const split = new Set(indexes).size < indexes.length;
    const rules: Rule[] = split
      ? conditions.map((c) => ({ action, conditions: [c] }))
      : [{ action, conditions }];
    for (const name of rule.names) {
      let entry = byName.get(name);
      if (!entry) byName.set(name, entry = { conditional: [] });
      for (const r of rules) {
        if (r.conditions.length > 0) entry.conditional.push(r);
        else entry.unconditional ??= r.action;
      }
    }
  }
  return byName;
}

/** The entries of one ABI, by number (with the section's base added). */
function entriesFor(byName: Map<string, Entry>, section: Section): Map<number, Entry> {
  const table = syscallNumbers(section.abi);
  const entries = new Map<number, Entry>();
  for (const [name, entry] of byName) {
    const nr = table.get(name);
    if (nr !== undefined) entries.set(nr + section.base, entry);
  }
  return entries;
}

type Outcome = { ret: number } | { entry: Entry };

interface Interval {
  start: number;
  outcome: Outcome;
}

/** The section's number range cut into intervals, each with one outcome. */
function intervals(entries: Map<number, Entry>, section: Section, fallback: number): Interval[] {
  const out: Interval[] = [];
  const push = (start: number, outcome: Outcome) => {
    const last = out[out.length - 1];
    if (last && "ret" in last.outcome && "ret" in outcome && last.outcome.ret === outcome.ret) {
      return;
    }
    out.push({ start, outcome });
  };
  let cursor = section.low;
  for (const nr of [...entries.keys()].sort((a, b) => a - b)) {
    if (nr < section.low || nr > section.high) continue;
    if (nr > cursor) push(cursor, { ret: fallback });
    const entry = entries.get(nr)!;
    push(
      nr,
      entry.conditional.length === 0 ? { ret: entry.unconditional ?? fallback } : { entry },
    );
    cursor = nr + 1;
  }
  if (cursor <= section.high) push(cursor, { ret: fallback });
  return out;
}

function split64(v: bigint): [hi: number, lo: number] {
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

/** Jumps to `pass` if the condition holds for the argument, else to `fail`. */
function emitCondition(p: BpfProgram, c: Condition, pass: Label, fail: Label, argBits: number) {
  const lo = dataArg(c.index);
  const hi = lo + 4; // little-endian: x86_64 and aarch64
  const [vhi, vlo] = split64(argBits === 32 ? c.value & 0xffffffffn : c.value);
  const [mhi, mlo] = split64(argBits === 32 ? c.value & 0xffffffffn : c.value);
  const [dhi, dlo] = split64(argBits === 32 ? c.valueTwo & 0xffffffffn : c.valueTwo);
  const wide = argBits === 64;

  // Unsigned a > v (or a >= v) on 64 bits: the high halves decide unless
  // they are equal, then the low halves do.
  const greater = (orEqual: boolean, yes: Label, no: Label) => {
    if (wide) {
      const equalHigh = p.label();
      const lowHalf = p.label();
      p.load(hi);
      p.branch(BPF.JMP_JGT_K, vhi, yes, equalHigh);
      p.place(equalHigh);
      p.branch(BPF.JMP_JEQ_K, vhi, lowHalf, no);
      p.place(lowHalf);
    }
    p.load(lo);
    p.branch(orEqual ? BPF.JMP_JGE_K : BPF.JMP_JGT_K, vlo, yes, no);
  };
  const equal = (yes: Label, no: Label) => {
    if (wide) {
      const lowHalf = p.label();
      p.load(hi);
      p.branch(BPF.JMP_JEQ_K, vhi, lowHalf, no);
      p.place(lowHalf);
    }
    p.load(lo);
    p.branch(BPF.JMP_JEQ_K, vlo, yes, no);
  };

  switch (c.op) {
    case "SCMP_CMP_EQ":
      return equal(pass, fail);
    case "SCMP_CMP_NE":
      return equal(fail, pass);
    case "SCMP_CMP_GT":
      return greater(false, pass, fail);
    case "SCMP_CMP_GE":
      return greater(true, pass, fail);
    case "SCMP_CMP_LT":
      return greater(true, fail, pass);
    case "SCMP_CMP_LE":
      return greater(false, fail, pass);
    case "SCMP_CMP_MASKED_EQ": {
      // (arg & value) == valueTwo, half by half; a half whose mask is zero
      // needs no instruction (it matches iff the datum's half is zero).
      if (wide) {
        if (mhi === 0) {
          if (dhi !== 0) return p.jump(fail);
        } else {
          const lowHalf = p.label();
          p.load(hi);
          if (mhi !== U32) p.and(mhi);
          p.branch(BPF.JMP_JEQ_K, dhi, lowHalf, fail);
          p.place(lowHalf);
        }
      }
      if (mlo === 0) return p.jump(dlo === 0 ? pass : fail);
      p.load(lo);
      if (mlo !== U32) p.and(mlo);
      return p.branch(BPF.JMP_JEQ_K, dlo, pass, fail);
    }
  }
  throw new ContainerError("seccomp", undefined, undefined, `unknown comparison ${c.op}`);
}

/** Argument rules of one call, then its unconditional action or the default. */
function emitEntry(p: BpfProgram, entry: Entry, fallback: number, argBits: number) {
  for (const rule of entry.conditional) {
    const next = p.label();
    for (const c of rule.conditions) {
      const holds = p.label();
      emitCondition(p, c, holds, next, argBits);
      p.place(holds);
    }
    p.ret(rule.action);
    p.place(next);
  }
  p.ret(entry.unconditional ?? fallback);
}

/** Binary search on seccomp_data.nr (in A) over the intervals. */
function emitSearch(p: BpfProgram, list: Interval[], fallback: number, argBits: number) {
  if (list.length === 1) {
    const { outcome } = list[0];
    if ("ret" in outcome) p.ret(outcome.ret);
    else emitEntry(p, outcome.entry, fallback, argBits);
    return;
  }
  const mid = list.length >> 1;
  const left = p.label();
  const right = p.label();
  p.branch(BPF.JMP_JGE_K, list[mid].start, right, left);
  p.place(left);
  emitSearch(p, list.slice(0, mid), fallback, argBits);
  p.place(right);
  emitSearch(p, list.slice(mid), fallback, argBits);
}

function emitSection(
  p: BpfProgram,
  byName: Map<string, Entry>,
  section: Section,
  fallback: number,
) {
  emitSearch(
    p,
    intervals(entriesFor(byName, section), section, fallback),
    fallback,
    section.argBits,
  );
}

const PERMISSIVE = [SECCOMP_RET.ALLOW, SECCOMP_RET.LOG] as number[];

const compiled = new WeakMap<Seccomp, Map<string, Uint8Array>>();

/** How to compile. */
export interface CompileOptions {
  /**
   * Use the filter compiled ahead of time when the profile is the default
   * one (default true). Compiling costs ~10 ms of cold JavaScript on every
   * `run`; the stored filter is checked against a fresh compile by the
   * unit tests and regenerated by lib/security/seccomp_default_bpf_gen.ts.
   */
  precompiled?: boolean;
}

/**
 * Compiles `profile` for the machine `arch` ("x86_64" or "aarch64") into a
 * struct sock_filter array.
 *
 * Architectures: the machine's own ABI is always filtered. On x86_64, i386
 * calls are filtered with the i386 table when the profile lists
 * SCMP_ARCH_X86, and x32 calls (x86_64's arch with the x32 bit in the
 * number) with the x32 table when it lists SCMP_ARCH_X32. Any other ABI
 * (an unlisted one, SCMP_ARCH_ARM on aarch64, a foreign arch value) gets the
 * default action, or ERRNO(ENOSYS) when the default allows: an unlisted ABI
 * must not be a way around a blocklist.
 */
export function compileSeccomp(
  profile: Seccomp,
  arch: string = Deno.build.arch,
  opts: CompileOptions = {},
): Uint8Array {
  let cache = compiled.get(profile);
  let filter = cache?.get(arch);
  if (filter) return filter;
  if (opts.precompiled ?? true) filter = precompiledFilter(profile, arch);
  filter ??= buildFilter(profile, arch);
  if (!cache) compiled.set(profile, cache = new Map());
  cache.set(arch, filter);
  return filter;
}

/** The stored filter if `profile` is the one it was compiled from. */
function precompiledFilter(profile: Seccomp, arch: string): Uint8Array | undefined {
  const stored = PRECOMPILED.filters[arch];
  if (!stored || JSON.stringify(profile) !== PRECOMPILED.profile) return undefined;
  return Uint8Array.fromBase64(stored);
}

function buildFilter(profile: Seccomp, arch: string): Uint8Array {
  const byName = rulesByName(profile);
  const fallback = actionValue(profile.defaultAction, profile.defaultErrnoRet);
  const foreign = PERMISSIVE.includes(fallback) ? (SECCOMP_RET.ERRNO | ENOSYS) >>> 0 : fallback;
  const listed = new Set(profile.architectures ?? []);
  const p = new BpfProgram();
  const reject = p.label();

  p.load(DATA_ARCH);
  if (arch === "x86_64") {
    const x86_64 = p.label();
    const notX86_64 = p.label();
    p.branch(BPF.JMP_JEQ_K, AUDIT_ARCH.X86_64, x86_64, notX86_64);
    p.place(notX86_64);
    const i386 = listed.has("SCMP_ARCH_X86") ? p.label() : null;
    if (i386) p.branch(BPF.JMP_JEQ_K, AUDIT_ARCH.I386, i386, reject);
    else p.jump(reject);

    p.place(x86_64);
    p.load(DATA_NR);
    const native = p.label();
    const x32 = listed.has("SCMP_ARCH_X32") ? p.label() : null;
    p.branch(BPF.JMP_JGE_K, X32_SYSCALL_BIT, x32 ?? reject, native);
    p.place(native);
    emitSection(p, byName, {
      abi: "x86_64",
      base: 0,
      low: 0,
      high: X32_SYSCALL_BIT - 1,
      argBits: 64,
    }, fallback);
    if (x32) {
      p.place(x32);
      emitSection(p, byName, {
        abi: "x32",
        base: X32_SYSCALL_BIT,
        low: X32_SYSCALL_BIT,
        high: U32,
        argBits: 32,
      }, fallback);
    }
    if (i386) {
      p.place(i386);
      p.load(DATA_NR);
      emitSection(p, byName, { abi: "i386", base: 0, low: 0, high: U32, argBits: 32 }, fallback);
    }
  } else if (arch === "aarch64") {
    const aarch64 = p.label();
    p.branch(BPF.JMP_JEQ_K, AUDIT_ARCH.AARCH64, aarch64, reject);
    p.place(aarch64);
    p.load(DATA_NR);
    emitSection(p, byName, { abi: "aarch64", base: 0, low: 0, high: U32, argBits: 64 }, fallback);
  } else {
    throw new ContainerError("seccomp", undefined, undefined, `no syscall table for ${arch}`);
  }
  p.place(reject);
  p.ret(foreign);

  const filter = p.assemble();
  const count = filter.length / SOCK_FILTER_SIZE;
  if (count > BPF_MAX_INSTRUCTIONS) {
    throw new ContainerError(
      "seccomp",
      undefined,
      undefined,
      `the profile compiles to ${count} BPF instructions, more than the kernel's ${BPF_MAX_INSTRUCTIONS}`,
    );
  }
  return filter;
}

/** The seccomp(2) flags a profile asks for. */
function filterFlags(profile: Seccomp): number {
  return (profile.flags ?? []).reduce((bits, name) => bits | (SECCOMP_FLAGS[name] ?? 0), 0);
}

/**
 * Refuses a profile that would deny the command's own execve, or kill on the
 * execveat of the exec helper: the filter is loaded before both, so such a
 * profile can never start anything.
 */
function checkAllowsExecve(profile: Seccomp): void {
  const permits = (action: string) => action === "SCMP_ACT_ALLOW" || action === "SCMP_ACT_LOG";
  const rules = (profile.syscalls ?? []).filter((r) => r.names.includes("execve"));
  const ok = rules.length > 0
    ? rules.some((r) => permits(r.action))
    : permits(profile.defaultAction);
  if (!ok) {
    throw new ContainerError(
      "seccomp profile",
      undefined,
      undefined,
      "it does not allow execve, which the runtime makes after loading the filter",
    );
  }
  // The command is executed through the sealed exec helper (ffi/exec_helper.c)
  // by execveat(fd, "", AT_EMPTY_PATH). A profile that makes it fail
  // (SCMP_ACT_ERRNO) is fine: the trampoline then executes the same file
  // by its /proc/self/fd path with execve. One that kills or traps on it
  // would end every container at its start without a word: refused here.
  const fatal = (action: string) => /^SCMP_ACT_(KILL|KILL_PROCESS|KILL_THREAD|TRAP)$/.test(action);
  const at = (profile.syscalls ?? []).filter((r) => r.names.includes("execveat"));
  if (at.length ? at.some((r) => fatal(r.action)) : fatal(profile.defaultAction)) {
    throw new ContainerError(
      "seccomp profile",
      undefined,
      undefined,
      "it kills on execveat, which the runtime makes after loading the filter " +
        "(allow it, or make it fail with SCMP_ACT_ERRNO)",
    );
  }
}

/**
 * The op loading `profile`'s filter: seccomp(SECCOMP_SET_MODE_FILTER, flags,
 * &sock_fprog). None for no profile (unconfined). The kernel takes it from a
 * process with no_new_privs or CAP_SYS_ADMIN, and it filters every later op,
 * so it belongs as late as possible: right before the execve ops.
 */
export function seccompOps(profile: Seccomp | undefined, arch: string = Deno.build.arch): Op[] {
  if (!profile) return [];
  checkAllowsExecve(profile);
  const filter = compileSeccomp(profile, arch);
  const count = filter.length / SOCK_FILTER_SIZE;
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }:
  // the pointer sits at offset 8 after padding.
  const fprog = new Uint8Array(16);
  new DataView(fprog.buffer).setUint16(0, count, true);
  return [{
    call: "seccomp",
    args: [SECCOMP_SET_MODE_FILTER, filterFlags(profile), {
      bytes: fprog,
      pointers: [{ at: 8, to: filter }],
    }],
    label: `seccomp load filter (${count} instructions)`,
  }];
}
