/**
 * Device access rules (spec.linux.resources.devices): which device nodes a
 * container may open or create. cgroup v1 takes them as lines written to
 * devices.deny and devices.allow; cgroup v2 has no file for them, only a
 * BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup, generated here
 * (no libbpf) the way runc's devicefilter does it: rules are checked from
 * the last to the first, the first that matches decides, nothing matching
 * is denied.
 * @module
 */

import { bpf } from "../../ffi/io.ts";
import { closeFd, openDirectory, SysError } from "../../ffi/libc.ts";
import { ContainerError } from "../errors.ts";
import type { DeviceRule } from "../spec.ts";
import type { LimitWrite } from "./types.ts";

/** The line the v1 devices controller takes for a rule: "c 1:3 rwm". */
export function ruleText(rule: DeviceRule): string {
  const type = rule.type ?? "a";
  const id = (n: number | undefined) => (n === undefined || n < 0 ? "*" : String(n));
  return `${type} ${id(rule.major)}:${id(rule.minor)} ${rule.access ?? "rwm"}`;
}

/** The v1 writes for `rules`, in order: each goes to devices.deny or devices.allow. */
export function v1DeviceWrites(rules: readonly DeviceRule[]): LimitWrite[] {
  return rules.map((rule) => ({
    controller: "devices",
    files: [[rule.allow ? "devices.allow" : "devices.deny", ruleText(rule)]],
    what: `device rule "${rule.allow ? "allow" : "deny"} ${ruleText(rule)}"`,
  }));
}

// eBPF encoding: 8 bytes per instruction (opcode, dst|src<<4, off16, imm32).
const LDX_MEM_W = 0x61;
const ALU64_MOV_K = 0xb7;
const ALU64_MOV_X = 0xbf;
const ALU64_AND_K = 0x57;
const ALU64_RSH_K = 0x77;
const JMP_JNE_K = 0x55;
const EXIT = 0x95;
const TYPE_BLOCK = 1;
const TYPE_CHAR = 2;
const ACCESS: Record<string, number> = { m: 1, r: 2, w: 4 };

type Insn = [op: number, dst: number, src: number, off: number, imm: number];

function accessMask(access = "rwm"): number {
  let mask = 0;
  for (const c of access) mask |= ACCESS[c] ?? 0;
  return mask;
}

/** The instructions that decide one rule, jumping past themselves when it does not match. */
function ruleBlock(rule: DeviceRule): Insn[] {
  // R2 type, R3 requested access, R4 major, R5 minor (set up by the prologue).
  const checks: Insn[][] = [];
  if (rule.type === "c" || rule.type === "b") {
    checks.push([[JMP_JNE_K, 2, 0, 0, rule.type === "c" ? TYPE_CHAR : TYPE_BLOCK]]);
  }
  const mask = accessMask(rule.access);
  if (mask !== 7) {
    // Requested access must lie within the rule's: (requested & ~mask) == 0.
    checks.push([
      [ALU64_MOV_X, 6, 3, 0, 0],
      [ALU64_AND_K, 6, 0, 0, ~mask & 7],
      [JMP_JNE_K, 6, 0, 0, 0],
    ]);
  }
  if (rule.major !== undefined && rule.major >= 0) checks.push([[JMP_JNE_K, 4, 0, 0, rule.major]]);
  if (rule.minor !== undefined && rule.minor >= 0) checks.push([[JMP_JNE_K, 5, 0, 0, rule.minor]]);
  const tail: Insn[] = [[ALU64_MOV_K, 0, 0, 0, rule.allow ? 1 : 0], [EXIT, 0, 0, 0, 0]];
  const body = checks.flat();
  // Each JNE jumps to just after this block.
  return [
    ...body.map((insn, i) =>
      insn[0] === JMP_JNE_K
        ? [insn[0], insn[1], insn[2], body.length - i - 1 + tail.length, insn[4]] as Insn
        : insn
    ),
    ...tail,
  ];
}

/** The eBPF program (struct bpf_insn[]) enforcing `rules`. */
export function deviceFilterProgram(rules: readonly DeviceRule[]): Uint8Array {
  const insns: Insn[] = [
    // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
    [LDX_MEM_W, 2, 1, 0, 0],
    [ALU64_AND_K, 2, 0, 0, 0xffff],
    [LDX_MEM_W, 3, 1, 0, 0],
    [ALU64_RSH_K, 3, 0, 0, 16],
    [LDX_MEM_W, 4, 1, 4, 0],
    [LDX_MEM_W, 5, 1, 8, 0],
  ];
  let decided = false;
  for (const rule of [...rules].reverse()) {
    const block = ruleBlock(rule);
    insns.push(...block);
    // A rule that matches everything decides every access: the verifier
    // refuses the unreachable instructions that would follow it.
    if (block.length === 2) {
      decided = true;
      break;
    }
  }
  if (!decided) insns.push([ALU64_MOV_K, 0, 0, 0, 0], [EXIT, 0, 0, 0, 0]);
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach(([op, dst, src, off, imm], i) => {
    view.setUint8(i * 8, op);
    view.setUint8(i * 8 + 1, (src << 4) | dst);
    view.setInt16(i * 8 + 2, off, true);
    view.setInt32(i * 8 + 4, imm, true);
  });
  return out;
}

const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_CGROUP_DEVICE = 6;
const BPF_F_ALLOW_MULTI = 2;

/**
 * Loads the program for `rules` and attaches it to the cgroup v2 directory
 * `dir`. The program lives as long as the cgroup (the attachment holds it).
 */
export function attachDeviceFilter(dir: string, rules: readonly DeviceRule[]): void {
  const program = deviceFilterProgram(rules);
  const license = new TextEncoder().encode("Apache-2.0\0");
  // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, ...
  const load = new Uint8Array(128);
  const view = new DataView(load.buffer);
  view.setUint32(0, BPF_PROG_TYPE_CGROUP_DEVICE, true);
  view.setUint32(4, program.length / 8, true);
  view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), true);
  view.setBigUint64(16, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(license))), true);
  const errnoOf = (e: unknown) => (e instanceof SysError ? e.err : undefined);
  let progFd: number;
  try {
    progFd = bpf(BPF_PROG_LOAD, load, "load the device filter");
  } catch (e) {
    throw new ContainerError("load device filter for", dir, errnoOf(e));
  }
  try {
    let cgroupFd: number;
    try {
      cgroupFd = openDirectory(dir);
    } catch (e) {
      throw new ContainerError("open cgroup", dir, errnoOf(e));
    }
    // union bpf_attr for BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags.
    const attach = new Uint8Array(24);
    const a = new DataView(attach.buffer);
    a.setUint32(0, cgroupFd, true);
    a.setUint32(4, progFd, true);
    a.setUint32(8, BPF_CGROUP_DEVICE, true);
    a.setUint32(12, BPF_F_ALLOW_MULTI, true);
    try {
      bpf(BPF_PROG_ATTACH, attach, "attach the device filter");
    } catch (e) {
      throw new ContainerError("attach device filter to", dir, errnoOf(e));
    } finally {
      closeFd(cgroupFd);
    }
  } finally {
    // The attachment holds the program; our fd is not needed past it.
    closeFd(progFd);
  }
}
