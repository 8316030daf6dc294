/**
 * Attaching a container to its network between clone and release, and
 * taking it off again on every exit path. The child's own network
 * namespace is bind-mounted to STATE_ROOT/net/ID/netns first, so CNI DEL
 * still finds the interface (and the bridge plugin its masquerade rules)
 * after the container's processes are gone; record.json says what was set
 * up, so that another command can run DEL for a container whose runtime
 * was killed ({@link reclaimNetwork}). The process running the container
 * holds a lock on record.json: a lock that can be taken means it is dead.
 *
 * Names: each container on a user-defined network gets, in its own hosts
 * file, a line for every running peer on that network (name, aliases),
 * and a line for itself is added to theirs; the lines go when it leaves.
 * @module
 */

import { bindMount, detachMount } from "../../ffi/libc.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { addNetwork, type CniResult, delNetwork, findPlugin, type PortMapping } from "./cni.ts";
import { type NetSetup, removeNetDir, rewriteFile } from "./etc_files.ts";
import { DEFAULT_NETWORK, findNetwork, type NetPaths } from "./networks.ts";

/** What was set up for one container, kept in its network directory. */
export interface NetRecord {
  id: string;
  setup: NetSetup;
  /** The bind-mounted network namespace file (CNI). */
  netns?: string;
  /** The network's conflist as used at ADD (DEL must get the same). */
  conflist?: import("./cni.ts").ConfList;
  /** The final CNI result. */
  result?: CniResult;
  /** The ports as published (free ones chosen). */
  ports?: PortMapping[];
  /** The container's address on the network, without prefix. */
  ip?: string;
  /** A rootless helper (pasta, slirp4netns) to stop. */
  helperPid?: number;
}

const IFNAME = "eth0";

function recordPath(dir: string): string {
  return `${dir}/record.json`;
}

/** The record of the container whose network directory is `dir`; undefined when none. */
export function readRecord(dir: string): NetRecord | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(recordPath(dir)));
  } catch {
    return undefined;
  }
}

function writeRecord(r: NetRecord): void {
  const path = recordPath(r.setup.dir);
  try {
    Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(r, null, 2));
    Deno.renameSync(`${path}.tmp`, path);
  } catch (e) {
    throw fromDenoError("write network record", path, e);
  }
}

/** The net/ folder holding every container's network directory. */
function netRoot(setup: NetSetup): string {
  return setup.dir.slice(0, setup.dir.lastIndexOf("/"));
}

const held = new Map<string, Deno.FsFile>();

/**
 * Marks the container's network as owned by this process for as long as it
 * lives (a lock on a file of its network directory).
 */
export function holdNetDir(dir: string): void {
  if (held.has(dir)) return;
  try {
    const f = Deno.openSync(`${dir}/owner.lock`, { create: true, write: true });
    f.lockSync(true);
    held.set(dir, f);
  } catch (e) {
    throw fromDenoError("lock network directory", dir, e);
  }
}

function releaseNetDir(dir: string): void {
  held.get(dir)?.close();
  held.delete(dir);
}

/** Whether a live process owns network directory `dir` (holds its lock). */
export function ownerAlive(dir: string): boolean {
  if (held.has(dir)) return true;
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(`${dir}/owner.lock`, { write: true });
  } catch {
    return false;
  }
  try {
    return !f.tryLockSync(true);
  } finally {
    f.close();
  }
}

function pathsOf(setup: NetSetup): NetPaths {
  return {
    networksDir: setup.networksDir!,
    ipamDir: setup.ipamDir!,
    containersDir: netRoot(setup),
  };
}

/** Every record under `netRootDir` whose owner lives, but ours (`except`). */
function liveRecords(netRootDir: string, except?: string): NetRecord[] {
  const out: NetRecord[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(netRootDir)];
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isDirectory || e.name === except) continue;
    const dir = `${netRootDir}/${e.name}`;
    const r = readRecord(dir);
    if (r && (r.netns || r.helperPid) && ownerAlive(dir)) out.push(r);
  }
  return out;
}

/** Every port live containers publish (`containersDir`: NetPaths'). */
export function publishedPorts(containersDir: string, except?: string): PortMapping[] {
  return liveRecords(containersDir, except).flatMap((r) => r.ports ?? []);
}

/** Names of the networks live containers are on, with their ids. */
export function networksInUse(containersDir: string): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const r of liveRecords(containersDir)) {
    if (r.setup.mode !== "cni" || !r.setup.network) continue;
    used.set(r.setup.network, [...(used.get(r.setup.network) ?? []), r.id]);
  }
  return used;
}

function hostsLine(r: NetRecord): string | undefined {
  if (!r.ip) return undefined;
  const names = [...new Set([...(r.setup.aliases ?? []), r.setup.hostname, r.id.slice(0, 12)])];
  return `${r.ip}\t${names.join(" ")}\t# peer ${r.id.slice(0, 12)}`;
}

/** Serializes hosts-file edits (kept in the networks directory: the state root stays clean). */
async function withHostsLock<T>(setup: NetSetup, fn: () => T): Promise<T> {
  const f = await Deno.open(`${setup.networksDir}/.hosts.lock`, { create: true, write: true });
  try {
    await f.lock(true);
    return fn();
  } finally {
    f.close();
  }
}

/** The hosts file of `r` with every peer line other than `drop`'s, plus `add`. */
function editHosts(path: string, drop: string, add?: string): void {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return; // gone with its container
  }
  const lines = text.split("\n").filter((l) => l && !l.endsWith(`# peer ${drop}`));
  if (add) lines.push(add);
  rewriteFile(path, lines.join("\n") + "\n");
}

/** Own line and the running peers' in our hosts file; ours in theirs. */
async function publishNames(r: NetRecord): Promise<void> {
  const root = netRoot(r.setup);
  await withHostsLock(r.setup, () => {
    const own = r.ip
      ? `${r.ip}\t${[...new Set([r.setup.hostname, ...(r.setup.aliases ?? [])])].join(" ")}\n`
      : "";
    const peers = r.setup.network === DEFAULT_NETWORK
      ? []
      : liveRecords(root, r.id).filter((p) =>
        p.setup.mode === "cni" && p.setup.network === r.setup.network && p.ip
      );
    rewriteFile(
      `${r.setup.dir}/hosts`,
      r.setup.hostsBase + own + peers.map((p) => `${hostsLine(p)}\n`).join(""),
    );
    const mine = hostsLine(r);
    for (const p of peers) editHosts(`${p.setup.dir}/hosts`, r.id.slice(0, 12), mine);
  });
}

async function withdrawNames(r: NetRecord): Promise<void> {
  const root = netRoot(r.setup);
  await withHostsLock(r.setup, () => {
    for (const p of liveRecords(root, r.id)) {
      if (p.setup.network === r.setup.network) {
        editHosts(`${p.setup.dir}/hosts`, r.id.slice(0, 12));
      }
    }
  });
}

/**
 * Attaches container `id` (its PID 1 `pid`, not yet released) to its
 * network. On failure the caller runs {@link detachNetwork}, which undoes
 * whatever part was done.
 */
export async function attachNetwork(setup: NetSetup, id: string, pid: number): Promise<void> {
  holdNetDir(setup.dir);
  if (setup.mode === "user") {
    let ports = setup.ports ?? [];
    if (ports.length) {
      const { claimPorts } = await import("./ports.ts");
      ports = claimPorts(ports, publishedPorts(netRoot(setup), id));
    }
    const record: NetRecord = { id, setup, ports };
    writeRecord(record);
    const { startUserNet } = await import("./user_net.ts");
    record.helperPid = await startUserNet(pid, setup, ports);
    writeRecord(record);
    return;
  }
  if (setup.mode !== "cni") return;
  const paths = pathsOf(setup);
  const net = findNetwork(paths, setup.network!);
  let ports = setup.ports ?? [];
  if (ports.length) {
    if (!net.conflist.plugins.some((p) => p.capabilities?.portMappings)) {
      throw new ContainerError(
        "publish ports on network",
        net.name,
        undefined,
        "its plugins take no portMappings (add the portmap plugin)",
      );
    }
    const { claimPorts } = await import("./ports.ts");
    ports = claimPorts(ports, publishedPorts(paths.containersDir, id));
  }
  if (setup.ip && !net.conflist.plugins.some((p) => p.capabilities?.ips)) {
    throw new ContainerError("--ip on network", net.name, undefined, "its plugins take no ips");
  }
  // A plugin the host lacks is named before anything is made.
  for (const p of net.conflist.plugins) findPlugin(p.type);
  const netns = `${setup.dir}/netns`;
  try {
    Deno.writeFileSync(netns, new Uint8Array(), { mode: 0o444 });
  } catch (e) {
    throw fromDenoError("create", netns, e);
  }
  const record: NetRecord = { id, setup, netns, conflist: net.conflist, ports };
  // Recorded before anything is made, so that a killed runtime's DEL finds it.
  writeRecord(record);
  bindMount(`/proc/${pid}/ns/net`, netns);
  record.result = await addNetwork(
    net.conflist,
    { containerId: id, netns, ifname: IFNAME },
    { portMappings: ports, ips: setup.ip ? [setup.ip] : undefined },
    paths.ipamDir,
  );
  record.ip = containerAddress(record.result);
  writeRecord(record);
  await publishNames(record);
}

/** The container's IPv4 address in a CNI result (on an interface in its namespace). */
export function containerAddress(result: CniResult | undefined): string | undefined {
  const ip = result?.ips?.find((i) =>
    i.interface === undefined || result.interfaces?.[i.interface]?.sandbox
  );
  return ip?.address.split("/")[0];
}

/**
 * Takes the container off its network: CNI DEL (every plugin, in reverse),
 * its names out of its peers' hosts files, the helper stopped, the netns
 * file unmounted. The network directory goes too unless the setup keeps it
 * (a detached container's /etc files, until rm). Idempotent.
 */
export async function detachNetwork(setup: NetSetup, keep = setup.keep ?? false): Promise<void> {
  const record = readRecord(setup.dir);
  let failure: unknown;
  if (record) {
    try {
      await teardown(record);
    } catch (e) {
      failure = e;
    }
  }
  releaseNetDir(setup.dir);
  if (!keep && !failure) removeNetDir(setup.dir);
  if (failure) throw failure;
}

async function teardown(r: NetRecord): Promise<void> {
  let failure: unknown;
  if (r.ip) await withdrawNames(r).catch(() => {});
  if (r.helperPid) {
    try {
      Deno.kill(r.helperPid, "SIGTERM");
    } catch { /* gone with the namespace */ }
  }
  if (r.netns && r.conflist) {
    try {
      await delNetwork(
        r.conflist,
        { containerId: r.id, netns: r.netns, ifname: IFNAME },
        { portMappings: r.ports ?? [], ips: r.setup.ip ? [r.setup.ip] : undefined },
        r.setup.ipamDir!,
        r.result,
      );
    } catch (e) {
      failure = e;
    }
  }
  if (r.netns) {
    detachMount(r.netns);
    try {
      Deno.removeSync(r.netns);
    } catch { /* never made */ }
  }
  if (failure) throw failure;
  writeRecord({ id: r.id, setup: r.setup });
}

/**
 * For the reclaimer (`system prune`, `rm` of a container whose supervisor
 * died): runs CNI DEL for the container whose network directory is `dir`
 * (a stored container's `state.net.setup.dir`), stops its helper, unmounts
 * its netns file and removes the directory, unless a live process still
 * owns it. Resolves to false when it is owned (nothing done), else true.
 */
export async function reclaimNetwork(dir: string): Promise<boolean> {
  if (ownerAlive(dir)) return false;
  const record = readRecord(dir);
  if (record) await teardown(record);
  removeNetDir(dir);
  return true;
}

/**
 * The network directories under `containersDir` (NetPaths') that hold a
 * set-up network (a netns or a helper) no live process owns: containers
 * whose runtime was killed.
 */
export function deadNetworks(containersDir: string): string[] {
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(containersDir)];
  } catch {
    return [];
  }
  return entries.map((e) => `${containersDir}/${e.name}`).filter((dir) => {
    const r = readRecord(dir);
    return !!r && !!(r.netns || r.helperPid) && !ownerAlive(dir);
  });
}

/** Reclaims {@link deadNetworks}; resolves to their directories. */
export async function reclaimDeadNetworks(containersDir: string): Promise<string[]> {
  const done: string[] = [];
  for (const dir of deadNetworks(containersDir)) {
    const r = readRecord(dir);
    if (!r) continue;
    await teardown(r);
    // A detached container's /etc files stay until rm; a foreground one's go.
    if (!r.setup.keep) removeNetDir(dir);
    done.push(dir);
  }
  return done;
}
