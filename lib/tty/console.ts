/**
 * The runtime's side of a container's terminal: the host terminal in raw
 * mode (restored on every way out), bytes copied both ways, and the window
 * size kept in step on SIGWINCH.
 * @module
 */

import { makeRaw, readSome, restoreMode, setWindowSize, writeAllTo } from "../../ffi/io.ts";
import type { WindowSize } from "./pty_ops.ts";

/** The host terminal's size, or 24x80 when stdout is not a terminal. */
export function hostWindowSize(): WindowSize {
  try {
    const { columns, rows } = Deno.consoleSize();
    if (columns > 0 && rows > 0) return { rows, cols: columns };
  } catch { /* not a terminal */ }
  return { rows: 24, cols: 80 };
}

/**
 * Calls `apply` with the host terminal's size on each SIGWINCH; returns the
 * function that stops it.
 */
export function followWindowSize(apply: (size: WindowSize) => void): () => void {
  const onWinch = () => apply(hostWindowSize());
  Deno.addSignalListener("SIGWINCH", onWinch);
  return () => Deno.removeSignalListener("SIGWINCH", onWinch);
}

let restoreRaw: (() => void) | undefined;

/**
 * Puts the host terminal (stdin) in raw mode: keys, Ctrl-C included, go to
 * the container's terminal, whose line discipline turns them into signals
 * for its foreground job; output goes out unprocessed (Deno.stdin.setRaw
 * keeps output processing, which turns a full-screen program's "\n" into
 * "\r\n"). Returns the function that restores the saved mode; it also runs
 * if the runtime exits or dies of an uncaught error first.
 */
export function enterRawMode(): () => void {
  if (restoreRaw) return restoreRaw;
  const saved = makeRaw(0);
  const restore = () => {
    if (restoreRaw !== restore) return;
    restoreRaw = undefined;
    try {
      restoreMode(0, saved);
    } catch { /* the terminal is gone */ }
    globalThis.removeEventListener("unload", restore);
  };
  globalThis.addEventListener("unload", restore);
  restoreRaw = restore;
  return restore;
}

/** Restores the host terminal if raw mode is on (for exit paths that skip finally). */
export function restoreTerminal(): void {
  restoreRaw?.();
}

/** A container terminal attached to this process's stdio. */
export interface Console {
  /** Resolves when the container side hung up and its output is written out. */
  done: Promise<void>;
  /** Stops following window-size changes and stdin. */
  detach(): void;
}

/**
 * Copies `master` to stdout (or to `out`: a log copier's pipe, which passes
 * it on to stdout) and, with `input`, stdin to `master`; follows SIGWINCH.
 */
export function attachConsole(master: number, input: boolean, out?: number): Console {
  const unfollow = followWindowSize((size) => {
    try {
      setWindowSize(master, size.rows, size.cols);
    } catch { /* the container is gone */ }
  });
  let stopped = false;

  const output = (async () => {
    const buf = new Uint8Array(16384);
    for (;;) {
      const n = await readSome(master, buf);
      if (n === 0) break;
      if (out !== undefined) {
        try {
          writeAllTo(out, buf.subarray(0, n));
        } catch {
          break; // the copier is gone: so is our output
        }
        continue;
      }
      let done = 0;
      while (done < n) done += Deno.stdout.writeSync(buf.subarray(done, n));
    }
  })();

  if (input) {
    (async () => {
      const buf = new Uint8Array(4096);
      while (!stopped) {
        const n = await Deno.stdin.read(buf);
        if (n === null || stopped) break;
        try {
          writeAllTo(master, buf.subarray(0, n));
        } catch {
          break;
        }
      }
    })();
  }

  return {
    done: output,
    detach() {
      stopped = true;
      unfollow();
    },
  };
}
