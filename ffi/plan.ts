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
  | "reset_signals";

const SPECIAL: Record<SpecialOp, number> = {
  wait_sync: -1,
  init: -2,
  reset_signals: -3,
};

/**
 * Refers to the result of an earlier op: by its index in the plan (`ref`),
 * or by how many ops back it is (`back: 1` is the op just before), which
 * lets plan fragments be built without knowing where they will sit.
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
 * An argument: a number; a C string; raw bytes passed by pointer; a struct
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
const F_DEBUG_BEFORE = 1n;

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

function cString(s: string): Uint8Array {
  const bytes = encoder.encode(s);
  if (bytes.includes(0)) throw new Error(`a string in the plan contains a NUL byte: ${s}`);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function isRef(a: Arg): a is Ref {
  return typeof a === "object" && a !== null && ("ref" in a || "back" in a);
}

function isStruct(a: Arg): a is Struct {
  return typeof a === "object" && a !== null && "pointers" in a;
}

/**
 * A piece of the data area: bytes (with the addresses of other pieces to
 * patch in at given offsets), or a pointer array to other pieces.
 */
type Blob =
  | { bytes: Uint8Array; offset: number; patches?: { at: number; to: Blob }[] }
  | { pointsTo: Blob[]; offset: number };

/**
 * Encodes a plan. With `debug`, each op carries the line the child prints
 * to stderr once the op succeeded (before it, for execve).
 */
export function encodePlan(
  plan: readonly Op[],
  debug = false,
  arch: string = Deno.build.arch,
): EncodedPlan {
  if (plan.length === 0 || plan.length > MAX_OPS) {
    throw new Error(`a plan has 1 to ${MAX_OPS} ops, not ${plan.length}`);
  }
  const table = syscallTable(arch);
  const blobs: Blob[] = [];
  let size = plan.length * OP_WORDS * 8;
  const align8 = () => (size = (size + 7) & ~7);
  const addBytes = (bytes: Uint8Array) => {
    const blob: Blob & { bytes: Uint8Array } = { bytes, offset: size };
    size += bytes.length;
    blobs.push(blob);
    return blob;
  };
  const addArray = (strings: readonly string[]): Blob => {
    const items: Blob[] = strings.map((s) => addBytes(cString(s)));
    align8();
    const blob = { pointsTo: items, offset: size };
    size += (items.length + 1) * 8;
    blobs.push(blob);
    return blob;
  };

  // Pass 1: lay out the data area.
  const argBlobs: (Blob | null)[][] = [];
  const labelBlobs: (Blob | null)[] = [];
  plan.forEach((op, i) => {
    if (op.args.length > 6) throw new Error(`op ${i} (${op.label}) has more than six arguments`);
    argBlobs.push(op.args.map((a) => {
      if (typeof a === "string") return addBytes(cString(a));
      if (a instanceof Uint8Array) {
        align8();
        return addBytes(a);
      }
      if (Array.isArray(a)) return addArray(a as readonly string[]);
      if (isStruct(a)) {
        const targets = a.pointers.map((p) => {
          align8();
          return addBytes(typeof p.to === "string" ? cString(p.to) : p.to);
        });
        align8();
        const blob = addBytes(a.bytes.slice());
        blob.patches = a.pointers.map((p, k) => ({ at: p.at, to: targets[k] }));
        return blob;
      }
      return null;
    }));
    labelBlobs.push(
      debug ? addBytes(encoder.encode(`[child] ${op.label}${op.exec ? "" : " ok"}\n`)) : null,
    );
  });
  align8();

  // Pass 2: write ops and data with absolute addresses.
  const buffer = new Uint8Array(size);
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
  const words = new BigInt64Array(buffer.buffer, 0, plan.length * OP_WORDS);
  const view = new DataView(buffer.buffer);
  for (const blob of blobs) {
    if ("bytes" in blob) {
      buffer.set(blob.bytes, blob.offset);
      for (const p of blob.patches ?? []) {
        view.setBigUint64(blob.offset + p.at, base + BigInt(p.to.offset), true);
      }
    } else {
      blob.pointsTo.forEach((item, k) => {
        view.setBigUint64(blob.offset + k * 8, base + BigInt(item.offset), true);
      });
      view.setBigUint64(blob.offset + blob.pointsTo.length * 8, 0n, true);
    }
  }
  plan.forEach((op, i) => {
    const w = i * OP_WORDS;
    words[w] = BigInt(
      op.call in SPECIAL ? SPECIAL[op.call as SpecialOp] : table[op.call as SyscallName],
    );
    let refmask = 0n;
    op.args.forEach((a, k) => {
      const blob = argBlobs[i][k];
      let value: bigint;
      if (blob) value = base + BigInt(blob.offset);
      else if (a === null) value = 0n;
      else if (isRef(a)) {
        const target = "ref" in a ? a.ref : i - a.back;
        if (target < 0 || target >= i) {
          throw new Error(`op ${i} (${op.label}) refers to op ${target}`);
        }
        refmask |= 1n << BigInt(k);
        value = BigInt(target);
      } else value = BigInt(a as number | bigint);
      words[w + 1 + k] = value;
    });
    words[w + 7] = refmask;
    (op.tolerate ?? []).slice(0, 4).forEach((name, k) => (words[w + 8 + k] = BigInt(ERRNO[name])));
    if ((op.tolerate?.length ?? 0) > 4) throw new Error(`op ${i} tolerates more than four errnos`);
    const label = labelBlobs[i];
    if (label && "bytes" in label) {
      words[w + 12] = base + BigInt(label.offset);
      words[w + 13] = BigInt(label.bytes.length);
    }
    words[w + 14] = op.exec ? F_DEBUG_BEFORE : 0n;
  });
  return { buffer, count: plan.length };
}
