/**
 * User namespace id mappings: choosing them (--userns, rootless) from
 * /etc/subuid and /etc/subgid, and writing them for a child that waits on
 * its sync pipe, before it does anything that needs them.
 * @module
 */

import { ContainerError, usageError } from "../errors.ts";
import type { IdMapping } from "../spec.ts";

/** The range `--userns remap` uses when /etc/subuid has none for the user. */
export const DEFAULT_REMAP: { hostID: number; size: number } = { hostID: 100000, size: 65536 };

/** A subordinate id range granted to a user in /etc/subuid or /etc/subgid. */
export interface SubRange {
  start: number;
  count: number;
}

/** Ranges granted to `user` (by name or numeric id) in a subuid/subgid file's text. */
export function parseSubIds(text: string, user: string, id: number): SubRange[] {
  const out: SubRange[] = [];
  for (const line of text.split("\n")) {
    const [who, start, count] = line.trim().split(":");
    if (!who || who.startsWith("#") || (who !== user && who !== String(id))) continue;
    const s = Number(start);
    const c = Number(count);
    // A range past the last id (a typo in the file) would wrap in the kernel: ignored.
    if (Number.isInteger(s) && Number.isInteger(c) && c > 0 && s + c - 1 <= LAST_ID) {
      out.push({ start: s, count: c });
    }
  }
  return out;
}

function readOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

function userName(uid: number): string {
  for (const line of readOrEmpty("/etc/passwd").split("\n")) {
    const f = line.split(":");
    if (f.length > 2 && Number(f[2]) === uid) return f[0];
  }
  return String(uid);
}

/**
 * The last id a map may reach: ids are 32-bit and (u32)-1 is "no id"; the
 * kernel refuses an extent that wraps past it (it would otherwise take the
 * size modulo 2^32, silently).
 */
export const LAST_ID = 0xfffffffe;

/** `--userns HOSTID:SIZE`, exactly: no wrap, no float, nothing past {@link LAST_ID}. */
export function parseRange(value: string): { hostID: number; size: number } {
  const m = /^(\d+):(\d+)$/.exec(value);
  if (!m) throw usageError(`--userns takes "remap" or HOSTID:SIZE, not "${value}"`);
  const hostID = BigInt(m[1]);
  const size = BigInt(m[2]);
  if (size < 1n) throw usageError(`--userns ${value}: the size must be at least 1`);
  if (hostID > BigInt(LAST_ID)) {
    throw usageError(`--userns ${value}: host ids go from 0 to ${LAST_ID}`);
  }
  if (hostID + size - 1n > BigInt(LAST_ID)) {
    throw usageError(
      `--userns ${value}: the range would end past the last id ${LAST_ID} (at most ${
        BigInt(LAST_ID) - hostID + 1n
      } ids from ${hostID})`,
    );
  }
  return { hostID: Number(hostID), size: Number(size) };
}

/** Uid and gid mappings, container side first. */
export interface IdMappings {
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
}

/**
 * The mappings for `--userns VALUE` run by `uid`/`gid`. VALUE is "remap"
 * (the user's first subordinate range, else {@link DEFAULT_REMAP} for root)
 * or "HOSTID:SIZE". Unprivileged callers with no value get themselves as
 * root, the only mapping the kernel lets them write without help.
 */
export function chooseMappings(
  value: string | undefined,
  uid: number,
  gid: number,
  files = { subuid: readOrEmpty("/etc/subuid"), subgid: readOrEmpty("/etc/subgid") },
): IdMappings {
  const name = userName(uid);
  const subU = parseSubIds(files.subuid, name, uid);
  const subG = parseSubIds(files.subgid, name, uid);
  if (value === undefined) {
    return {
      uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
    };
  }
  let range: { hostID: number; size: number };
  if (value === "remap") {
    if (subU.length && subG.length) {
      range = { hostID: subU[0].start, size: Math.min(subU[0].count, subG[0].count) };
    } else if (uid === 0) range = DEFAULT_REMAP;
    else {throw new ContainerError(
        "--userns remap",
        "/etc/subuid",
        undefined,
        `no subordinate ids for user ${name}`,
      );}
  } else {
    range = parseRange(value);
    const grants = (subs: SubRange[]) =>
      subs.some((s) => range.hostID >= s.start && range.hostID + range.size <= s.start + s.count);
    // Root may map anything, unless its subordinate ranges say otherwise.
    const limited = uid !== 0 || subU.length > 0;
    if (limited && (!grants(subU) || (uid !== 0 && !grants(subG)))) {
      throw new ContainerError(
        `--userns ${value}`,
        "/etc/subuid",
        undefined,
        `the range ${range.hostID}-${range.hostID + range.size - 1} is not granted to user ${name}`,
      );
    }
  }
  return {
    uidMappings: [{ containerID: 0, hostID: range.hostID, size: range.size }],
    gidMappings: [{ containerID: 0, hostID: range.hostID, size: range.size }],
  };
}

function mapText(maps: readonly IdMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");
}

async function runHelper(tool: string, pid: number, maps: readonly IdMapping[]): Promise<void> {
  const args = [String(pid), ...maps.flatMap((m) => [m.containerID, m.hostID, m.size].map(String))];
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(tool, { args, stdout: "null", stderr: "piped" }).output();
  } catch (e) {
    throw new ContainerError(
      tool,
      undefined,
      undefined,
      `cannot run it (${(e as Error).message}); install the uidmap package`,
    );
  }
  if (!out.success) {
    throw new ContainerError(
      tool,
      `for pid ${pid}`,
      undefined,
      new TextDecoder().decode(out.stderr).trim(),
    );
  }
}

/**
 * Writes the uid and gid maps of process `pid` (waiting in its new user
 * namespace). Root writes any map; an unprivileged user writes only its own
 * ids directly and needs newuidmap/newgidmap (setuid helpers) for more.
 */
export async function writeMappings(pid: number, maps: IdMappings): Promise<void> {
  const self = (list: IdMapping[], id: number) =>
    list.length === 1 && list[0].hostID === id && list[0].size === 1;
  const helper = Deno.uid() !== 0 &&
    !(self(maps.uidMappings, Deno.uid() ?? -1) && self(maps.gidMappings, Deno.gid() ?? -1));
  if (helper) {
    await runHelper("newuidmap", pid, maps.uidMappings);
    await runHelper("newgidmap", pid, maps.gidMappings);
    return;
  }
  const write = (file: string, text: string) => {
    try {
      Deno.writeTextFileSync(`/proc/${pid}/${file}`, text);
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new ContainerError(
        `write ${file}`,
        `/proc/${pid}/${file}`,
        code === "EPERM" ? 1 : undefined,
        code === "EPERM" ? undefined : (e as Error).message,
      );
    }
  };
  write("uid_map", mapText(maps.uidMappings));
  // An unprivileged writer may map its gid only once setgroups is denied.
  if (Deno.uid() !== 0) write("setgroups", "deny");
  write("gid_map", mapText(maps.gidMappings));
}

/** Whether container id `id` is mapped by `maps`. */
export function isMapped(maps: readonly IdMapping[] | undefined, id: number): boolean {
  return (maps ?? []).some((m) => id >= m.containerID && id < m.containerID + m.size);
}
