/**
 * Every container's /etc/hosts, /etc/hostname and /etc/resolv.conf, written
 * in the container's network directory (STATE_ROOT/net/ID) and bind-mounted
 * onto those paths, as docker does: nothing is written into a rootfs the
 * user gave. This module is on every `run`'s path, so it stays small; the
 * CNI code (attach.ts) loads only when a network asks for it.
 * @module
 */

import { fromDenoError, usageError } from "../errors.ts";
import type { Mount } from "../spec.ts";
import type { PortMapping } from "./cni.ts";

/** How the container is networked. */
export type NetMode = "none" | "host" | "cni" | "container" | "user";

/** What the runtime needs to network one container, stored with it (serializable). */
export interface NetSetup {
  /** STATE_ROOT/net/ID: the /etc files, the netns file, record.json. */
  dir: string;
  mode: NetMode;
  /** CNI: the network's name; container: the other container's id. */
  network?: string;
  /** The conflists and host-local's leases (CNI). */
  networksDir?: string;
  ipamDir?: string;
  /** --ip. */
  ip?: string;
  /** The container's name and --network-alias names, for its peers' hosts files. */
  aliases?: string[];
  ports?: PortMapping[];
  hostname: string;
  /** The start of /etc/hosts: localhost lines and --add-host entries. */
  hostsBase: string;
  /** Kept after the container exits (a detached container's, until rm). */
  keep?: boolean;
  /**
   * Who made the directory, written as owner.json (lib/state/liveness.ts's
   * owned-directory format): a reclaimer removes it once that process is
   * dead and the container's state folder (stateDir) is gone.
   */
  owner?: { pid: number; start: number; stateDir?: string };
}

/** The loopback and IPv6 lines every hosts file starts with (docker's). */
export const LOCALHOST_LINES = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
].join("\n");

/** The DNS options docker's flags give. */
export interface DnsFlags {
  dns?: string[];
  search?: string[];
  options?: string[];
}

function isLoopback(ns: string): boolean {
  return ns.startsWith("127.") || ns === "::1" || ns === "0:0:0:0:0:0:0:1";
}

/** docker's public resolvers, used when the host has only loopback ones. */
export const FALLBACK_NAMESERVERS = ["8.8.8.8", "8.8.4.4"];

/**
 * resolv.conf for a container: the host's, or the --dns flags' parts in
 * place of its own. Unless it shares the host's network, the host's
 * loopback resolvers (which mean nothing in another namespace) are dropped,
 * docker's public ones standing in when none is left.
 */
export function buildResolvConf(host: string, flags: DnsFlags, hostNetwork: boolean): string {
  const nameservers: string[] = [];
  const search: string[] = [];
  const options: string[] = [];
  const other: string[] = [];
  for (const raw of host.split("\n")) {
    const line = raw.trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === "nameserver" && rest[0]) nameservers.push(rest[0]);
    else if ((key === "search" || key === "domain") && rest.length) {
      search.splice(0, Infinity, ...rest);
    } else if (key === "options") options.push(...rest);
    else if (line && !line.startsWith("#") && !line.startsWith(";")) other.push(line);
  }
  let servers = flags.dns?.length ? flags.dns : nameservers;
  if (!hostNetwork && !flags.dns?.length) {
    servers = servers.filter((s) => !isLoopback(s));
    if (!servers.length) servers = FALLBACK_NAMESERVERS;
  }
  const s = flags.search?.length ? flags.search : search;
  const o = flags.options?.length ? flags.options : options;
  const lines = [...servers.map((n) => `nameserver ${n}`)];
  if (s.length && !(s.length === 1 && s[0] === ".")) lines.push(`search ${s.join(" ")}`);
  if (o.length) lines.push(`options ${o.join(" ")}`);
  return [...lines, ...other].join("\n") + "\n";
}

/** The host's resolv.conf (systemd-resolved's upstream one when the stub is all there is). */
export function hostResolvConf(): string {
  const read = (p: string) => {
    try {
      return Deno.readTextFileSync(p);
    } catch {
      return "";
    }
  };
  const text = read("/etc/resolv.conf");
  if (/^nameserver\s+127\.0\.0\.53\s*$/m.test(text)) {
    return read("/run/systemd/resolve/resolv.conf") || text;
  }
  return text;
}

/** --add-host NAME:IP entries as hosts lines; a usage error for a malformed one. */
export function addHostLines(entries: readonly string[]): string[] {
  return entries.map((e) => {
    const at = e.indexOf(":");
    const name = e.slice(0, at);
    const ip = e.slice(at + 1);
    if (at <= 0 || !ip || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(name) || /\s/.test(ip)) {
      throw usageError(`--add-host "${e}" is not NAME:IP`);
    }
    return `${ip}\t${name}`;
  });
}

/** The bind mounts of the three files (before volumes: a -v onto one of them wins). */
export function etcMounts(dir: string, hostsDir = dir): Mount[] {
  return [
    ["hosts", hostsDir],
    ["hostname", dir],
    ["resolv.conf", hostsDir],
  ].map(([file, from]) => ({
    destination: `/etc/${file}`,
    type: "bind",
    source: `${from}/${file}`,
    options: ["bind", "rw"],
  }));
}

/** Writes `text` into `path` in place: a bind-mounted file keeps its inode. */
export function rewriteFile(path: string, text: string): void {
  try {
    Deno.writeTextFileSync(path, text);
  } catch (e) {
    throw fromDenoError("write", path, e);
  }
}

/** Makes the container's network directory with its three files and owner.json. */
export function writeEtcFiles(setup: NetSetup, resolv: string, hostsExtra = ""): void {
  try {
    Deno.mkdirSync(setup.dir, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw fromDenoError("create network directory", setup.dir, e);
  }
  rewriteFile(`${setup.dir}/hostname`, `${setup.hostname}\n`);
  rewriteFile(`${setup.dir}/hosts`, setup.hostsBase + hostsExtra);
  rewriteFile(`${setup.dir}/resolv.conf`, resolv);
  if (setup.owner) rewriteFile(`${setup.dir}/owner.json`, JSON.stringify(setup.owner));
}

/** Removes a container's network directory (nothing may be mounted in it). */
export function removeNetDir(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
}

/**
 * {@link removeNetDir} on Deno's thread pool, while the caller's thread
 * goes on. net/ itself stays, as containers/ does: removing it when empty
 * cost a failing rmdir at each removal and a failing mkdir at each start.
 */
export async function removeNetDirAsync(dir: string): Promise<void> {
  try {
    await Deno.remove(dir, { recursive: true });
  } catch { /* already gone */ }
}

/**
 * Removes a network directory unless a network is still set up in it (a
 * netns mounted there, a helper running: those need CNI DEL first, see
 * attach.ts's reclaimNetwork).
 */
export function removeUnattachedNetDir(dir: string): void {
  try {
    const r = JSON.parse(Deno.readTextFileSync(`${dir}/record.json`));
    if (r?.netns || r?.helperPid) return;
  } catch { /* none or unreadable: nothing attached */ }
  removeNetDir(dir);
}
