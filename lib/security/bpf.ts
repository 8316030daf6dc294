/**
 * A small assembler for classic BPF as seccomp runs it: the handful of
 * instructions a filter needs, symbolic labels, and the rewriting of
 * conditional jumps whose target lies beyond their 8-bit offsets.
 * @module
 */

/** Instruction codes (linux/filter.h, linux/bpf_common.h). */
export const BPF = {
  /** A = 32-bit word at absolute offset k of seccomp_data. */
  LD_W_ABS: 0x20,
  /** A &= k. */
  ALU_AND_K: 0x54,
  /** pc += k (32-bit offset, forward only). */
  JMP_JA: 0x05,
  /** pc += (A == k) ? jt : jf. */
  JMP_JEQ_K: 0x15,
  /** pc += (A > k) ? jt : jf, unsigned. */
  JMP_JGT_K: 0x25,
  /** pc += (A >= k) ? jt : jf, unsigned. */
  JMP_JGE_K: 0x35,
  /** pc += (A & k) ? jt : jf. */
  JMP_JSET_K: 0x45,
  /** Return k. */
  RET_K: 0x06,
} as const;

/** BPF_MAXINSNS: the kernel refuses longer filters. */
export const BPF_MAX_INSTRUCTIONS = 4096;

/** Bytes per struct sock_filter: u16 code, u8 jt, u8 jf, u32 k. */
export const SOCK_FILTER_SIZE = 8;

/** A position in a program, placed once. */
export interface Label {
  /** The program's number for it. */
  readonly id: number;
}

type Insn =
  | { kind: "plain"; code: number; k: number }
  | { kind: "jump"; code: number; k: number; jt: Label; jf: Label }
  | { kind: "ja"; target: Label }
  | { kind: "label"; label: Label };

const MAX_SHORT_JUMP = 255;

/**
 * A program under construction. Conditional jumps name both targets by label
 * (nothing falls through them), which is what lets the assembler put a far
 * jump's `ja` right behind it without changing what the program means.
 */
export class BpfProgram {
  #items: Insn[] = [];
  #labels = 0;

  /** A new label, to be placed later with {@link place}. */
  label(): Label {
    return { id: this.#labels++ };
  }

  /** Places `label` at the next instruction. */
  place(label: Label): void {
    this.#items.push({ kind: "label", label });
  }

  /** A = the 32-bit word at `offset` of seccomp_data. */
  load(offset: number): void {
    this.#items.push({ kind: "plain", code: BPF.LD_W_ABS, k: offset });
  }

  /** A &= k. */
  and(k: number): void {
    this.#items.push({ kind: "plain", code: BPF.ALU_AND_K, k });
  }

  /** Returns `k` (a SECCOMP_RET_* value) from the filter. */
  ret(k: number): void {
    this.#items.push({ kind: "plain", code: BPF.RET_K, k });
  }

  /** Unconditional jump. */
  jump(target: Label): void {
    this.#items.push({ kind: "ja", target });
  }

  /** A conditional jump: `code` is one of the BPF.JMP_*_K codes. */
  branch(code: number, k: number, jt: Label, jf: Label): void {
    this.#items.push({ kind: "jump", code, k, jt, jf });
  }

  /**
   * The program as struct sock_filter bytes. Jumps only go forward, so the
   * program is laid out from its end: every target's distance from the end
   * is known when a jump is reached, and a conditional jump more than 255
   * instructions from a target gets a `ja` island right behind it (which
   * moves only the instructions before it, not yet laid out). One pass.
   */
  assemble(): Uint8Array {
    const items = this.#items;
    // fromEnd[label] = index, counted from the end, of the instruction it marks.
    const fromEnd = new Int32Array(this.#labels).fill(-1);
    const codes: number[] = [];
    const jts: number[] = [];
    const jfs: number[] = [];
    const ks: number[] = [];
    const emit = (code: number, jt: number, jf: number, k: number) => {
      codes.push(code);
      jts.push(jt);
      jfs.push(jf);
      ks.push(k);
    };
    const target = (label: Label) => {
      const t = fromEnd[label.id];
      if (t < 0) throw new Error(`BPF label ${label.id} is not placed after its jump`);
      return t;
    };
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i];
      const here = codes.length;
      switch (item.kind) {
        case "label":
          if (here === 0) throw new Error(`BPF label ${item.label.id} marks no instruction`);
          fromEnd[item.label.id] = here - 1;
          break;
        case "plain":
          emit(item.code, 0, 0, item.k);
          break;
        case "ja":
          emit(BPF.JMP_JA, 0, 0, here - target(item.target) - 1);
          break;
        case "jump": {
          let t = target(item.jt);
          let f = target(item.jf);
          // Islands needed if the jump lands `n` instructions further back.
          const far = (n: number) =>
            Number(here + n - t - 1 > MAX_SHORT_JUMP) + Number(here + n - f - 1 > MAX_SHORT_JUMP);
          let n = far(0);
          while (far(n) > n) n = far(n);
          const at = here + n;
          if (at - t - 1 > MAX_SHORT_JUMP) {
            emit(BPF.JMP_JA, 0, 0, codes.length - t - 1);
            t = codes.length - 1;
          }
          if (at - f - 1 > MAX_SHORT_JUMP) {
            emit(BPF.JMP_JA, 0, 0, codes.length - f - 1);
            f = codes.length - 1;
          }
          emit(item.code, at - t - 1, at - f - 1, item.k);
          break;
        }
      }
    }
    const count = codes.length;
    const out = new Uint8Array(count * SOCK_FILTER_SIZE);
    const view = new DataView(out.buffer);
    for (let r = 0; r < count; r++) {
      const o = (count - 1 - r) * SOCK_FILTER_SIZE;
      view.setUint16(o, codes[r], true);
      view.setUint8(o + 2, jts[r]);
      view.setUint8(o + 3, jfs[r]);
      view.setUint32(o + 4, ks[r] >>> 0, true);
    }
    return out;
  }
}
