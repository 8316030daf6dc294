/**
 * Is a stored pid still the process it was? A pid can be reused after a
 * crash or a reboot: the start time in /proc/PID/stat tells them apart.
 *
 * Owner tags: every resource a command creates (a journal entry, a temp
 * directory, a lease, a tombstone) carries `PID-START` of the process that
 * owns it in its name. A daemonless runtime cannot clean up after SIGKILL;
 * the next command that meets the resource judges the owner dead when no
 * process with that pid and start time exists, and reclaims it.
 * @module
 */

import { diskUsage, pathExists } from "./disk_usage.ts";

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

let ownStart: number | undefined;

/** This process's start time (see {@link processStartTime}), read once. */
export function ownStartTime(): number {
  return (ownStart ??= processStartTime(Deno.pid) ?? 0);
}

/** This process's owner tag, `PID-START`. */
export function ownerTag(): string {
  return `${Deno.pid}-${ownStartTime()}`;
}

/** The owner tag at the start of `text` (`PID-START`, then the end, "-" or "."), or undefined. */
export function parseOwner(text: string): { pid: number; start: number } | undefined {
  const m = /^(\d+)-(\d+)(?:$|[-.])/.exec(text);
  return m ? { pid: Number(m[1]), start: Number(m[2]) } : undefined;
}

/** Whether the owner `tag` names (`PID-START...`) still lives; an unparseable tag is dead. */
export function ownerAlive(tag: string): boolean {
  const owner = parseOwner(tag);
  return owner !== undefined && isSameProcess(owner.pid, owner.start);
}

/** The file in an owned directory naming its owner: `{pid, start, stateDir?}`. */
const OWNER_FILE = "owner.json";

/**
 * Makes directory `parent/name` complete or not at all: built as
 * `parent/.new-PID-START-name` by `fill`, given an owner.json naming this
 * process (and `stateDir`, the state folder of a detached container, which
 * holds the directory once this process is gone), then renamed into place.
 * A directory a killed command left is then judged dead by
 * {@link ownedDirAlive}. Returns the final path; on failure nothing is left.
 */
export function makeOwnedDir(
  parent: string,
  name: string,
  fill: (tmp: string) => void,
  stateDir?: string,
): string {
  const tmp = `${parent}/.new-${ownerTag()}-${name}`;
  const dir = `${parent}/${name}`;
  try {
    try {
      Deno.mkdirSync(tmp, { mode: 0o700 });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      // Listable by its owner only; the directories below are reachable by path.
      Deno.mkdirSync(parent, { recursive: true, mode: 0o711 });
      Deno.mkdirSync(tmp, { mode: 0o700 });
    }
    fill(tmp);
    const self = parseOwner(ownerTag())!;
    Deno.writeTextFileSync(
      `${tmp}/${OWNER_FILE}`,
      JSON.stringify({ pid: self.pid, start: self.start, stateDir }),
    );
    Deno.renameSync(tmp, dir);
  } catch (e) {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch { /* never made */ }
    throw e;
  }
  return dir;
}

/**
 * Whether owned directory `parent/name` still has an owner: one being
 * built (`.new-PID-START-...`) while its maker lives; one in place while the
 * process in its owner.json lives or its state folder exists. A directory
 * without owner.json (made before owners were recorded) is kept: nothing
 * says it is dead.
 */
export function ownedDirAlive(parent: string, name: string): boolean {
  if (name.startsWith(".new-")) return ownerAlive(name.slice(5));
  let owner: { pid?: number; start?: number; stateDir?: string };
  try {
    owner = JSON.parse(Deno.readTextFileSync(`${parent}/${name}/${OWNER_FILE}`));
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
  if (isSameProcess(owner.pid, owner.start)) return true;
  if (!owner.stateDir) return false;
  try {
    Deno.lstatSync(owner.stateDir);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes, with `remove`, every directory in `parent` that has no owner any
 * more ({@link ownedDirAlive}); returns the paths and the bytes they held.
 */
export function reclaimOwnedDirs(
  parent: string,
  remove: (path: string) => void,
): { paths: string[]; bytes: number } {
  const out = { paths: [] as string[], bytes: 0 };
  let names: string[];
  try {
    names = [...Deno.readDirSync(parent)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    return out;
  }
  for (const name of names) {
    if (ownedDirAlive(parent, name)) continue;
    const path = `${parent}/${name}`;
    const bytes = diskUsage(path);
    remove(path);
    if (!pathExists(path)) {
      out.paths.push(path);
      out.bytes += bytes;
    }
  }
  return out;
}
