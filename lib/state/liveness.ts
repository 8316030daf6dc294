/**
 * Is a stored pid still the process it was? A pid can be reused after a
 * crash or a reboot: the start time in /proc/PID/stat tells them apart.
 * @module
 */

/** The start time (field 22 of /proc/PID/stat, in clock ticks since boot), or undefined if no such process. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : undefined;
}

/** Whether `pid` is alive, not a zombie, and started at `start`. */
export function isSameProcess(pid: number | undefined, start: number | undefined): boolean {
  if (!pid || start === undefined) return false;
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return false;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[0] !== "Z" && Number(fields[19]) === start;
}
