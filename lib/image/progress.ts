/**
 * Per-layer download progress: on a terminal one bar per layer, redrawn in
 * place; otherwise a plain line per event, for logs and pipes.
 * @module
 */

const encoder = new TextEncoder();

/** Where a pull reports what each layer is doing. */
export interface Progress {
  /** A layer's state: "waiting", "downloading", "extracting", "done", "already exists". */
  state(layer: string, state: string): void;
  /** Bytes received of a layer so far. */
  bytes(layer: string, got: number, total: number): void;
  /** A line that is not about one layer. */
  line(text: string): void;
}

function bar(got: number, total: number): string {
  const width = 30;
  const filled = total ? Math.min(width, Math.round((got / total) * width)) : 0;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return `[${"=".repeat(filled)}${filled < width ? ">" : ""}${
    " ".repeat(Math.max(0, width - filled - 1))
  }] ${mb(got)}/${mb(total)} MB`;
}

/** Bars on a terminal (redrawn in place), plain lines elsewhere; silent when `quiet`. */
export function progressReporter(quiet: boolean, tty = Deno.stderr.isTerminal()): Progress {
  if (quiet) return { state() {}, bytes() {}, line() {} };
  if (!tty) {
    return {
      state: (layer, state) => console.error(`${layer}: ${state}`),
      bytes() {},
      line: (text) => console.error(text),
    };
  }
  const order: string[] = [];
  const text = new Map<string, string>();
  let drawn = 0;
  let last = 0;
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    let out = drawn ? `\x1b[${drawn}A` : "";
    for (const layer of order) out += `\r\x1b[2K${layer}: ${text.get(layer)}\n`;
    drawn = order.length;
    Deno.stderr.writeSync(encoder.encode(out));
  };
  const set = (layer: string, value: string, force: boolean) => {
    if (!text.has(layer)) order.push(layer);
    text.set(layer, value);
    draw(force);
  };
  return {
    state: (layer, state) => set(layer, state, true),
    bytes: (layer, got, total) => set(layer, `downloading ${bar(got, total)}`, false),
    line: (line) => {
      draw(true);
      Deno.stderr.writeSync(encoder.encode(`${line}\n`));
      drawn = 0;
    },
  };
}
