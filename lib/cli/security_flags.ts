/**
 * docker's security flags, turned into spec fields: --cap-add/--cap-drop,
 * --privileged, --security-opt, -u/--user, --group-add, --read-only. The
 * defaults are at least as tight as docker's: its fourteen capabilities,
 * its seccomp allowlist, its masked and read-only paths, and no_new_privs.
 * @module
 */

import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import { resolveCapabilities } from "../security/capabilities.ts";
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from "../security/paths.ts";
import { defaultSeccompProfile, readSeccompProfile } from "../security/seccomp.ts";
import { resolveUser } from "../security/users.ts";
import type { Spec } from "../spec.ts";
import { readOnlyTmpfsMounts } from "../container/default_spec.ts";
import type { FlagDef } from "./args.ts";

/** The flags, for `run` (and their help). */
export const SECURITY_FLAGS: FlagDef[] = [
  {
    name: "cap-add",
    value: true,
    repeat: true,
    meta: "CAP",
    help: "Add a capability (CAP_ prefix optional; ALL)",
  },
  {
    name: "cap-drop",
    value: true,
    repeat: true,
    meta: "CAP",
    help: "Drop a capability (ALL drops every one)",
  },
  { name: "privileged", help: "Every capability, no seccomp filter, no masked paths" },
  {
    name: "security-opt",
    value: true,
    repeat: true,
    meta: "OPT",
    help: "no-new-privileges=false, seccomp=unconfined or seccomp=PROFILE.json",
  },
  {
    name: "user",
    short: "u",
    value: true,
    meta: "USER[:GROUP]",
    help: "Run as this user (name or id, from the rootfs)",
  },
  {
    name: "group-add",
    value: true,
    repeat: true,
    meta: "GROUP",
    help: "Add a supplementary group",
  },
  {
    name: "read-only",
    help: "Mount the root filesystem read-only (/tmp and /run get 64 MiB tmpfs, /dev stays)",
  },
  {
    name: "device",
    value: true,
    repeat: true,
    meta: "HOST[:CTR][:rwm]",
    help: "Give the container a host device node (access r, w, m)",
  },
];

type Flags = Record<string, string | string[] | boolean | undefined>;

/**
 * Applies the security flags to `spec`. Users and groups are looked up in
 * `userRoot`'s /etc (default: the rootfs).
 */
export function applySecurityFlags(
  spec: Spec,
  flags: Flags,
  userRoot: string = spec.root.path,
): void {
  const privileged = flags.privileged === true;
  const caps = resolveCapabilities(
    (flags["cap-add"] as string[] | undefined) ?? [],
    (flags["cap-drop"] as string[] | undefined) ?? [],
    privileged,
  );
  spec.process.capabilities = caps;
  let noNewPrivileges = true;
  let seccomp: "default" | "unconfined" | string = privileged ? "unconfined" : "default";
  for (const opt of (flags["security-opt"] as string[] | undefined) ?? []) {
    const [key, value] = opt.includes("=")
      ? [opt.slice(0, opt.indexOf("=")), opt.slice(opt.indexOf("=") + 1)]
      : [opt, "true"];
    if (key === "no-new-privileges") {
      if (value !== "true" && value !== "false") {
        throw usageError(`--security-opt ${opt}: takes true or false`);
      }
      noNewPrivileges = value === "true";
    } else if (key === "seccomp") {
      if (!value) throw usageError(`--security-opt ${opt}: give unconfined or a profile path`);
      seccomp = value;
    } else {
      throw usageError(`--security-opt "${opt}" is not supported (no-new-privileges, seccomp)`);
    }
  }
  spec.process.noNewPrivileges = noNewPrivileges;
  if (seccomp === "default") spec.linux.seccomp = defaultSeccompProfile(caps.bounding);
  else if (seccomp !== "unconfined") {
    spec.linux.seccomp = readSeccompProfile(seccomp, { capabilities: caps.bounding });
  }
  if (!privileged) {
    spec.linux.maskedPaths = [...DEFAULT_MASKED_PATHS];
    spec.linux.readonlyPaths = [...DEFAULT_READONLY_PATHS];
  } else {
    // docker's --privileged: every device may be used (none is created).
    spec.linux.resources = { ...spec.linux.resources, devices: [{ allow: true, access: "rwm" }] };
  }
  for (const text of (flags.device as string[] | undefined) ?? []) addDevice(spec, text);
  const user = flags.user as string | undefined;
  const groupAdd = (flags["group-add"] as string[] | undefined) ?? [];
  if (user !== undefined || groupAdd.length) {
    const resolved = resolveUser(userRoot, user ?? "0", groupAdd);
    spec.process.user = {
      uid: resolved.uid,
      gid: resolved.gid,
      additionalGids: resolved.additionalGids,
    };
    const env = spec.process.env ?? [];
    const i = env.findIndex((kv) => kv.startsWith("HOME="));
    // docker: HOME follows the user unless -e set it.
    if (resolved.home && i >= 0 && env[i] === "HOME=/root") env[i] = `HOME=${resolved.home}`;
  }
  if (flags["read-only"]) {
    spec.root.readonly = true;
    for (const m of readOnlyTmpfsMounts()) {
      if (spec.mounts.some((x) => x.destination === m.destination)) continue;
      // Below a volume or tmpfs the user put inside it, not over it.
      const at = spec.mounts.findIndex((x) => x.destination.startsWith(`${m.destination}/`));
      spec.mounts.splice(at < 0 ? spec.mounts.length : at, 0, m);
    }
  }
}

/** --device HOST[:CONTAINER][:PERMS]: the node is created in the container and allowed in its cgroup. */
function addDevice(spec: Spec, text: string): void {
  const parts = text.split(":");
  const host = parts[0];
  let target = host;
  let access = "rwm";
  if (parts.length === 3) [, target, access] = parts;
  else if (parts.length === 2) {
    if (/^[rwm]+$/.test(parts[1])) access = parts[1];
    else target = parts[1];
  }
  if (
    !host.startsWith("/") || !target.startsWith("/") || !/^[rwm]+$/.test(access) || parts.length > 3
  ) {
    throw usageError(`--device "${text}" is not HOST[:CONTAINER][:rwm] with absolute paths`);
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(host);
  } catch (e) {
    throw fromDenoError("--device", host, e);
  }
  if (!info.isCharDevice && !info.isBlockDevice) {
    throw new ContainerError("--device", host, undefined, "not a device node");
  }
  const rdev = info.rdev ?? 0;
  const major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff);
  const type = info.isCharDevice ? "c" : "b";
  (spec.linux.devices ??= []).push({
    type,
    path: target,
    major,
    minor,
    fileMode: (info.mode ?? 0o600) & 0o777,
    uid: 0,
    gid: 0,
  });
  const rules = spec.linux.resources?.devices ?? [];
  spec.linux.resources = {
    ...spec.linux.resources,
    devices: [...rules, { allow: true, type, major, minor, access }],
  };
}
