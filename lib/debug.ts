/**
 * The clock of `--debug` lines: every line, the parent's and the child's
 * (ffi/trampoline.c formats its own), shows the milliseconds since the
 * launcher started, so a run's timeline reads off its stderr.
 * @module
 */

let origin: number | undefined;

/**
 * Epoch microseconds the times count from: MINICONTAINER_T0 (the caller's,
 * or bash's $EPOCHREALTIME where /bin/sh is bash: see the launcher) when it
 * is a moment before Deno's start, or else Deno's own time origin (a few to
 * tens of ms after the exec).
 */
export function debugOriginUs(): number {
  if (origin === undefined) {
    const t0 = Number(Deno.env.get("MINICONTAINER_T0"));
    const deno = Math.round(performance.timeOrigin * 1000);
    // One inherited from another process long gone (a minute before Deno's
    // start, or in the future) would make every line's time meaningless.
    const us = Math.round(t0 * 1e6);
    origin = t0 > 0 && us <= deno && deno - us < 60e6 ? us : deno;
  }
  return origin;
}

/** Prints "[parent +T ms] line" on stderr. */
export function debugLine(line: string): void {
  const ms = (performance.timeOrigin * 1000 + performance.now() * 1000 - debugOriginUs()) / 1000;
  console.error(`[parent +${ms.toFixed(3)} ms] ${line}`);
}
