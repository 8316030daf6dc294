/**
 * `--user` and `--group-add` resolved against the container's own
 * /etc/passwd and /etc/group, with docker's (runc's) rules: numeric ids need
 * no entry, names do; supplementary groups come from /etc/group only when no
 * group was given explicitly.
 * @module
 */

import { ContainerError } from "../errors.ts";

/** The process identity a user spec resolves to. */
export interface ResolvedUser {
  /** The user id. */
  uid: number;
  /** The primary group id. */
  gid: number;
  /** Supplementary groups: /etc/group memberships (implicit form) and --group-add. */
  additionalGids: number[];
  /** The home directory from the user's passwd entry, if it has one. */
  home?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Ids as runc accepts them: 0 to 2^31-1. */
const MAX_ID = 0x7fffffff;

function numeric(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/**
 * Reads `file` inside `rootfs` unless it is missing or a symlink leads out
 * of the rootfs: an image must not make the runtime read host files.
 */
function readInRoot(rootfs: string, file: string): string | undefined {
  try {
    const root = Deno.realPathSync(rootfs);
    const real = Deno.realPathSync(`${rootfs}${file}`);
    if (!real.startsWith(`${root}/`)) return undefined;
    return Deno.readTextFileSync(real);
  } catch {
    return undefined;
  }
}

function lines(text: string | undefined): string[][] {
  return (text ?? "").split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return lines(text).flatMap(([name, , uid, gid, , home]) => {
    const u = numeric(uid ?? "");
    const g = numeric(gid ?? "");
    return name && u !== undefined && g !== undefined
      ? [{ name, uid: u, gid: g, home: home ?? "" }]
      : [];
  });
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return lines(text).flatMap(([name, , gid, members]) => {
    const g = numeric(gid ?? "");
    return name && g !== undefined
      ? [{ name, gid: g, members: (members ?? "").split(",").map((m) => m.trim()).filter(Boolean) }]
      : [];
  });
}

/**
 * Resolves `user` ("UID", "NAME", "UID:GID", "NAME:GROUP" and mixes; empty
 * means root) and `groupAdd` (names or GIDs) against `rootfs`'s /etc/passwd
 * and /etc/group. A name without an entry throws a ContainerError (exit 125).
 */
export function resolveUser(
  rootfs: string,
  user: string,
  groupAdd: readonly string[] = [],
): ResolvedUser {
  const passwdPath = `${rootfs}/etc/passwd`;
  const groupPath = `${rootfs}/etc/group`;
  const passwd = parsePasswd(readInRoot(rootfs, "/etc/passwd"));
  const groups = parseGroup(readInRoot(rootfs, "/etc/group"));

  const colon = user.indexOf(":");
  const userPart = colon < 0 ? user : user.slice(0, colon);
  const groupPart = colon < 0 ? undefined : user.slice(colon + 1);
  if (colon >= 0 && groupPart === "") {
    throw new ContainerError("user", JSON.stringify(user), undefined, "the group after : is empty");
  }

  const bad = (what: string, name: string, path: string) =>
    new ContainerError("resolve user", path, undefined, `no ${what} named ${JSON.stringify(name)}`);
  const outOfRange = (s: string) => /^[0-9]+$/.test(s) && numeric(s) === undefined;
  for (const part of [userPart, groupPart ?? "", ...groupAdd]) {
    if (outOfRange(part)) {
      throw new ContainerError(
        "user",
        JSON.stringify(part),
        undefined,
        `ids go from 0 to ${MAX_ID}`,
      );
    }
  }

  // The user: by name, or by uid (an entry for it still gives gid and home).
  const wantedUid = numeric(userPart || "0");
  const entry = wantedUid !== undefined
    ? passwd.find((p) => p.uid === wantedUid)
    : passwd.find((p) => p.name === userPart);
  if (wantedUid === undefined && !entry) throw bad("user", userPart, passwdPath);
  const uid = entry?.uid ?? wantedUid!;
  let gid = entry?.gid ?? 0;

  const additional: number[] = [];
  if (groupPart !== undefined) {
    const wantedGid = numeric(groupPart);
    const group = wantedGid !== undefined
      ? groups.find((g) => g.gid === wantedGid)
      : groups.find((g) => g.name === groupPart);
    if (wantedGid === undefined && !group) throw bad("group", groupPart, groupPath);
    gid = group?.gid ?? wantedGid!;
  } else if (entry) {
    // Implicit form only: the groups that list the user as a member.
    for (const g of groups) if (g.members.includes(entry.name)) additional.push(g.gid);
  }

  for (const name of groupAdd) {
    const wantedGid = numeric(name);
    const group = wantedGid !== undefined
      ? groups.find((g) => g.gid === wantedGid)
      : groups.find((g) => g.name === name);
    if (wantedGid === undefined && !group) throw bad("group", name, groupPath);
    additional.push(group?.gid ?? wantedGid!);
  }

  const resolved: ResolvedUser = { uid, gid, additionalGids: [...new Set(additional)] };
  if (entry?.home) resolved.home = entry.home;
  return resolved;
}
