/**
 * The child plan: an ordered list of system calls the trampoline replays in
 * the cloned child, and its binary encoding (the layout of ffi/trampoline.c).
 *
 * A plan is plain data so it can be built and asserted on without running
 * it. Every byte the child touches (strings, argv, envp, structs) is laid out
 * here, before the clone, in one buffer whose absolute addresses the child
 * uses as they are.
 * @module
 */

import { ERRNO, type ErrnoName, type SyscallName, syscallTable } from "./syscalls.ts";

/** Ops the trampoline implements itself because they are more than one call. */
export type SpecialOp =
  /** Block until the parent releases the child through the trampoline's sync pipe. */
  | "wait_sync"
  /** Fork; the parent becomes a reaping, signal-forwarding PID 1. */
  | "init"
  /** Reset every signal disposition to the default. */
  | "reset_signals"
  /** Send fd args[1] over the unix socket args[0] (SCM_RIGHTS). */
  | "send_fd"
  /**
   * An O_PATH fd for path args[1] inside the root fd args[0], resolved with
   * that root as "/" (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, or a
   * component walk on kernels without it); args[2] is {@link IN_ROOT} flags;
   * args[3], when not null, a 32-byte buffer that receives "/proc/self/fd/N".
   */
  | "open_in_root"
  /** Write "/proc/self/fd/N" (N = args[1]) into the 32-byte args[0]; the result is args[0]. */
  | "fd_path"
  /**
   * Close every descriptor from 3 up (really, not close-on-exec) but the
   * args (up to six) and the trampoline's own (error pipe, parent pidfd);
   * the sync pipe goes too, so it comes after wait_sync.
   */
  | "close_fds"
  /**
   * Exit at once if the parent has already exited (the parent-death signal
   * set just before would then never come): after every prctl(PDEATHSIG).
   */
  | "check_parent"
  /**
   * An OCI hook run in the container's namespaces: fork, stdin from the
   * state memfd args[3] (read from its start), execve(args[0], argv args[1],
   * envp args[2]), wait at most args[4] seconds (0: no limit). A failure
   * reports the errno, or {@link HOOK_FAILED} codes; with args[5] >= 0 it
   * is also written there ('E', int32 code, path) for `start` to read.
   * The hook is executed through the exec helper (exec_helper op, which must
   * come first): args[1] is the helper's argv ({@link execHelperArgv}).
   */
  | "hook"
  /**
   * Names the exec helper (ffi/exec_helper.c) by the fd args[0] of its
   * sealed memfd: kept by close_fds, executed by sealed_exec and hooks.
   */
  | "exec_helper"
  /**
   * Become the exec helper (execveat of its fd) with argv args[0] and envp
   * args[1]; it executes the candidates, the execve ops that follow this
   * one (never run by the trampoline), and reports their failures by their
   * index. See {@link execHelperArgv}.
   */
  | "sealed_exec";

const SPECIAL: Record<SpecialOp, number> = {
  wait_sync: -1,
  init: -2,
  reset_signals: -3,
  send_fd: -4,
  open_in_root: -5,
  fd_path: -6,
  close_fds: -7,
  check_parent: -8,
  hook: -9,
  exec_helper: -10,
  sealed_exec: -11,
};

/**
 * A placeholder the child overwrites with a number (the error pipe's fd, an
 * op index) before it executes the exec helper. A fresh string each time:
 * the encoder does not share strings between ops.
 */
const NUMBER_SLOT = "............";

/**
 * The exec helper's argv (see ffi/exec_helper.c): the error pipe and first
 * op index to be filled in by the child (`hook`: report an errno only),
 * each candidate path and whether its failure may be passed over (a PATH
 * entry that is not the last), then the command's own argv.
 */
export function execHelperArgv(
  candidates: readonly { path: string; tolerated: boolean }[],
  args: readonly string[],
  hook = false,
): string[] {
  return [
    "mcexec",
    NUMBER_SLOT,
    hook ? "-" : NUMBER_SLOT,
    `${candidates.length}`,
    ...candidates.flatMap((c) => [c.tolerated ? "1" : "0", c.path]),
    ...args,
  ];
}

/** What a failed hook op reports instead of an errno (MC_HOOK_* in trampoline.c). */
export const HOOK_FAILED = {
  /** Or'ed with the hook's wait status: it exited non-zero or was killed. */
  STATUS: 0x10000,
  /** Killed at its timeout. */
  TIMEOUT: 0x20000,
} as const;

/** Flags of the open_in_root op (MC_IN_ROOT_* in trampoline.c). */
export const IN_ROOT = {
  /** Create missing directories (0755) on the way; the result is a directory. */
  MKDIR: 1,
  /** With MKDIR: the last component, if missing, is created as an empty file. */
  FILE: 2,
  /** The component walk of old kernels even where openat2 exists (tests). */
  WALK: 4,
  /** The result may not be the root itself (EBUSY): a mount's destination. */
  NOT_ROOT: 8,
} as const;

/**
 * Refers to the result of an earlier op: by its index in the plan (`ref`),
 * or by how many ops back it is (`back: 1` is the op just before), which
 * lets plan fragments be built without knowing where they will sit. When
 * that result is a tolerated failure, the op referring to it is skipped and
 * passes the failure on.
 */
export type Ref = { ref: number } | { back: number };

/**
 * Bytes passed by pointer that themselves hold pointers (sock_fprog, iovec):
 * at byte offset `at` of `bytes` the encoder writes the address of `to`.
 */
export interface Struct {
  bytes: Uint8Array;
  pointers: readonly { at: number; to: Uint8Array | string }[];
}

/**
 * An argument: a number; a C string; raw bytes passed by pointer (the same
 * Uint8Array given to several ops is one buffer in the child, so an op can
 * fill it for later ones); a struct
 * with pointers inside; an array of C strings passed as a NULL-terminated
 * pointer array (argv, envp); null for NULL; or the result of an earlier op.
 */
export type Arg =
  | number
  | bigint
  | string
  | Uint8Array
  | Struct
  | readonly string[]
  | Ref
  | null;

/** One step of the child. */
export interface Op {
  /** The system call, by name, or a special op. */
  call: SyscallName | SpecialOp;
  /** Up to six arguments. */
  args: readonly Arg[];
  /** What the step does, in the words of an error message: "mount proc on /proc". */
  label: string;
  /** Errnos after which the plan goes on (e.g. EEXIST for mkdir). */
  tolerate?: readonly ErrnoName[];
  /** This op runs the user's command: its failures map to exit 126/127. */
  exec?: boolean;
}

/** Words per op; must match MC_OP_WORDS in trampoline.c. */
export const OP_WORDS = 16;
const MAX_OPS = 2048;
const F_DEBUG_BEFORE = 1;
const TWO_32 = 4294967296;

/** A plan laid out for the trampoline. Keep it referenced until the spawn returns. */
export interface EncodedPlan {
  /** The whole buffer: ops first, then the data they point to. */
  buffer: Uint8Array;
  /** Number of ops. */
  count: number;
}

/** Shorthand for a reference to op `index`'s result. */
export function ref(index: number): Ref {
  return { ref: index };
}

const encoder = new TextEncoder();

function isRef(a: Arg): a is Ref {
  return typeof a === "object" && a !== null && ("ref" in a || "back" in a);
}

/**
 * `plan` with `inserted` placed before op `at`, every reference kept
 * pointing at the op it meant: absolute refs past the insertion move up,
 * and `back` refs that reach across it grow by its length.
 */
export function insertOps(plan: readonly Op[], at: number, inserted: readonly Op[]): Op[] {
  const shift = inserted.length;
  const moved = plan.slice(at).map((op, k) => ({
    ...op,
    args: op.args.map((a): Arg => {
      if (!isRef(a)) return a;
      if ("ref" in a) return a.ref >= at ? { ref: a.ref + shift } : a;
      return at + k - a.back < at ? { back: a.back + shift } : a;
    }),
  }));
  return [...plan.slice(0, at), ...inserted, ...moved];
}

/**
 * `plan` without the ops `drop` selects, every reference kept pointing at
 * the op it meant. An op that refers to a dropped one cannot be kept: that
 * is a bug of the caller, thrown.
 */
export function removeOps(plan: readonly Op[], drop: (op: Op) => boolean): Op[] {
  const dropped = plan.map(drop);
  // newIndex[i]: where op i lands, for the ops kept.
  const newIndex: number[] = [];
  let n = 0;
  for (let i = 0; i < plan.length; i++) newIndex.push(dropped[i] ? -1 : n++);
  const out: Op[] = [];
  plan.forEach((op, i) => {
    if (dropped[i]) return;
    out.push({
      ...op,
      args: op.args.map((a): Arg => {
        if (!isRef(a)) return a;
        const target = "ref" in a ? a.ref : i - a.back;
        if (newIndex[target] === undefined || newIndex[target] < 0) {
          throw new Error(`removeOps: op ${i} (${op.label}) refers to a removed op`);
        }
        return "ref" in a ? { ref: newIndex[target] } : { back: newIndex[i] - newIndex[target] };
      }),
    });
  });
  return out;
}

function isStruct(a: Arg): a is Struct {
  return typeof a === "object" && a !== null && "pointers" in a;
}

/** Writes a 64-bit little-endian integer; plain numbers avoid BigInt on the hot path. */
function put64(view: DataView, at: number, n: number | bigint): void {
  if (typeof n === "bigint") view.setBigInt64(at, n, true);
  else if (n >= 0) {
    view.setUint32(at, n % TWO_32, true);
    view.setUint32(at + 4, Math.floor(n / TWO_32), true);
  } else {
    view.setInt32(at, n, true);
    view.setInt32(at + 4, -1, true);
  }
}

const align8 = (n: number) => (n + 7) & ~7;

/**
 * Lays out plan data: strings, bytes, pointer arrays and structs go into
 * one buffer after the ops, and each allocation returns its absolute address.
 */
class Arena {
  readonly buffer: Uint8Array;
  readonly view: DataView;
  readonly base: number;
  private used: number;

  constructor(size: number, start: number, base?: number) {
    this.buffer = new Uint8Array(size);
    this.view = new DataView(this.buffer.buffer);
    this.base = base ?? Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.buffer)));
    this.used = start;
  }

  /** Addresses of the byte arrays laid out so far: one array passed to several ops is one buffer. */
  private readonly laid = new Map<Uint8Array, number>();

  bytes(b: Uint8Array): number {
    const known = this.laid.get(b);
    if (known !== undefined) return known;
    this.used = align8(this.used);
    const at = this.used;
    this.buffer.set(b, at);
    this.used += b.length;
    this.laid.set(b, this.base + at);
    return this.base + at;
  }

  string(s: string): number {
    this.used = align8(this.used);
    const at = this.used;
    const { written } = encoder.encodeInto(s, this.buffer.subarray(at));
    if (this.buffer.subarray(at, at + written).includes(0)) {
      throw new Error(`a string in the plan contains a NUL byte: ${s}`);
    }
    this.buffer[at + written] = 0;
    this.used += written + 1;
    return this.base + at;
  }

  strings(list: readonly string[]): number {
    const addresses = list.map((s) => this.string(s));
    this.used = align8(this.used);
    const at = this.used;
    addresses.forEach((a, k) => put64(this.view, at + k * 8, a));
    put64(this.view, at + addresses.length * 8, 0);
    this.used += (addresses.length + 1) * 8;
    return this.base + at;
  }

  struct(s: Struct): number {
    const targets = s.pointers.map((p) =>
      typeof p.to === "string" ? this.string(p.to) : this.bytes(p.to)
    );
    const address = this.bytes(s.bytes);
    const at = address - this.base;
    s.pointers.forEach((p, k) => put64(this.view, at + p.at, targets[k]));
    return address;
  }
}

/** An upper bound of the data area an argument needs (UTF-8 is at most 3 bytes per UTF-16 unit). */
function argSize(a: Arg): number {
  if (typeof a === "string") return a.length * 3 + 8;
  if (a instanceof Uint8Array) return a.length + 8;
  if (Array.isArray(a)) return (a as readonly string[]).reduce((n, s) => n + s.length * 3 + 16, 16);
  if (isStruct(a)) return a.pointers.reduce((n, p) => n + argSize(p.to) + 8, a.bytes.length + 8);
  return 0;
}

function debugLine(op: Op): string {
  return `${op.label}${op.exec ? "" : " ok"}\n`;
}

/**
 * Encodes a plan. With `debug`, each op carries the line the child prints
 * to stderr once the op succeeded (before it, for execve), after
 * "[child +T ms]": T counts from `debug` when it is a time (epoch
 * microseconds), else from Deno's time origin. With `base`, the
 * plan is laid out for that address instead of the buffer's own: another
 * process (a detached container's monitor) maps it there and replays it.
 */
export function encodePlan(
  plan: readonly Op[],
  debug: boolean | number = false,
  arch: string = Deno.build.arch,
  base?: number,
): EncodedPlan {
  const origin = typeof debug === "number" ? debug : Math.round(performance.timeOrigin * 1000);
  if (plan.length === 0 || plan.length > MAX_OPS) {
    throw new Error(`a plan has 1 to ${MAX_OPS} ops, not ${plan.length}`);
  }
  const table = syscallTable(arch);
  const opsBytes = plan.length * OP_WORDS * 8;
  let size = opsBytes;
  for (const op of plan) {
    if (op.args.length > 6) throw new Error(`op (${op.label}) has more than six arguments`);
    for (const a of op.args) size += argSize(a);
    if (debug) size += debugLine(op).length * 3 + 8;
  }
  const arena = new Arena(size, opsBytes, base);
  const view = arena.view;
  plan.forEach((op, i) => {
    const w = i * OP_WORDS * 8;
    put64(
      view,
      w,
      op.call in SPECIAL ? SPECIAL[op.call as SpecialOp] : table[op.call as SyscallName],
    );
    let refmask = 0;
    op.args.forEach((a, k) => {
      let value: number | bigint;
      if (a === null) value = 0;
      else if (typeof a === "number" || typeof a === "bigint") value = a;
      else if (typeof a === "string") value = arena.string(a);
      else if (a instanceof Uint8Array) value = arena.bytes(a);
      else if (Array.isArray(a)) value = arena.strings(a as readonly string[]);
      else if (isRef(a as Arg)) {
        const r = a as Ref;
        const target = "ref" in r ? r.ref : i - r.back;
        if (target < 0 || target >= i) {
          throw new Error(`op ${i} (${op.label}) refers to op ${target}`);
        }
        refmask |= 1 << k;
        value = target;
      } else value = arena.struct(a as Struct);
      put64(view, w + (1 + k) * 8, value);
    });
    put64(view, w + 7 * 8, refmask);
    const tolerate = op.tolerate ?? [];
    if (tolerate.length > 4) throw new Error(`op ${i} tolerates more than four errnos`);
    tolerate.forEach((name, k) => put64(view, w + (8 + k) * 8, ERRNO[name]));
    if (debug) {
      const line = encoder.encode(debugLine(op));
      put64(view, w + 12 * 8, arena.bytes(line));
      put64(view, w + 13 * 8, line.length);
      put64(view, w + 15 * 8, origin);
    }
    put64(view, w + 14 * 8, op.exec ? F_DEBUG_BEFORE : 0);
  });
  return { buffer: arena.buffer, count: plan.length };
}
