/**
 * Turning a wait(2) status into the exit status a shell would report.
 * @module
 */

/** The exit code for a raw wait status: the code itself, or 128+N for signal N. */
export function exitCodeOf(status: number): number {
  const signal = status & 0x7f;
  if (signal === 0) return (status >> 8) & 0xff;
  return 128 + signal;
}

/** The signal that killed the process, or 0 when it exited. */
export function signalOf(status: number): number {
  const signal = status & 0x7f;
  return signal === 0x7f ? 0 : signal;
}
