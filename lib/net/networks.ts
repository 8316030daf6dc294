/**
 * The networks store: one CNI conflist per network in the data directory's
 * networks/ folder (a user's own .conflist dropped there works as well),
 * host-local's leases in cni/ipam/, and a lock for writers. The network
 * `bridge` is made on first use with a subnet no host route covers.
 * @module
 */

import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import type { ConfList, PluginConf } from "./cni.ts";
import {
  chooseSubnet,
  contains,
  firstHost,
  formatIPv4,
  formatSubnet,
  hostRoutes,
  overlaps,
  parseIPv4,
  parseSubnet,
  type Subnet,
} from "./subnet.ts";

/** Where the networking state of one data directory and state root lives. */
export interface NetPaths {
  /** The conflists. */
  networksDir: string;
  /** host-local's lease directory. */
  ipamDir: string;
  /**
   * One folder per container: its /etc files, netns file and record. In the
   * data directory, which a remapped container root can traverse (the state
   * root is 0700).
   */
  containersDir: string;
}

/** The paths of a data directory. */
export function netPaths(dataDir: string): NetPaths {
  return {
    networksDir: `${dataDir}/networks`,
    ipamDir: `${dataDir}/cni/ipam`,
    containersDir: `${dataDir}/net`,
  };
}

/** The network every -p and --network bridge uses. */
export const DEFAULT_NETWORK = "bridge";

/** Where a network's conflist comes from, and what we read from it. */
export interface Network {
  name: string;
  id: string;
  /** The first plugin's type ("bridge" for ours). */
  driver: string;
  subnet?: string;
  gateway?: string;
  /** The Linux bridge device, for ours. */
  bridge?: string;
  created?: string;
  file: string;
  /** Made by `network create` (false: a conflist the user put there). */
  managed: boolean;
  conflist: ConfList;
}

/** Network names: like container names; never a --network keyword. */
export function checkNetworkName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) || name.length > 64) {
    throw usageError(
      `network name "${name}" may hold letters, digits, _ . - (at most 64) and start with a letter or digit`,
    );
  }
  if (name === "none" || name === "host") {
    throw usageError(`"${name}" is a network mode, not a network name`);
  }
}

function describe(conflist: ConfList, file: string): Network {
  const first = conflist.plugins?.[0] as PluginConf | undefined;
  const range = (first?.ipam as { ranges?: { subnet?: string; gateway?: string }[][] } | undefined)
    ?.ranges?.[0]?.[0];
  const meta = conflist.minicontainer as { id?: string; created?: string } | undefined;
  return {
    name: conflist.name,
    id: meta?.id ?? conflist.name,
    driver: first?.type ?? "",
    subnet: range?.subnet,
    gateway: range?.gateway,
    bridge: typeof first?.bridge === "string" ? first.bridge : undefined,
    created: meta?.created,
    file,
    managed: meta !== undefined,
    conflist,
  };
}

function readConflist(file: string): ConfList | undefined {
  try {
    const c = JSON.parse(Deno.readTextFileSync(file)) as ConfList;
    if (typeof c?.name !== "string" || !Array.isArray(c.plugins)) return undefined;
    return c;
  } catch {
    return undefined;
  }
}

/** Every network of the store, by name. */
export function listNetworks(paths: NetPaths): Network[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(paths.networksDir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw fromDenoError("read networks", paths.networksDir, e);
  }
  const out: Network[] = [];
  for (const e of entries.filter((e) => e.name.endsWith(".conflist"))) {
    const file = `${paths.networksDir}/${e.name}`;
    const c = readConflist(file);
    if (c) out.push(describe(c, file));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The network `name`; an error naming it when there is none. */
export function findNetwork(paths: NetPaths, name: string): Network {
  const found = listNetworks(paths).find((n) => n.name === name);
  if (!found) {
    throw new ContainerError(
      "network",
      name,
      undefined,
      "no such network; see 'minicontainer network ls'",
    );
  }
  return found;
}

/** Runs `fn` holding the store's writer lock. */
export async function withNetworksLock<T>(paths: NetPaths, fn: () => T | Promise<T>): Promise<T> {
  let file: Deno.FsFile;
  try {
    Deno.mkdirSync(paths.networksDir, { recursive: true, mode: 0o755 });
    file = await Deno.open(`${paths.networksDir}/.lock`, { create: true, write: true });
  } catch (e) {
    throw fromDenoError("lock networks", paths.networksDir, e);
  }
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close();
  }
}

/** Subnets another runtime's CNI networks use (podman's 10.88.0.0/16 in /etc/cni/net.d). */
function systemCniSubnets(): Subnet[] {
  const out: Subnet[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync("/etc/cni/net.d")];
  } catch {
    return out;
  }
  for (const e of entries) {
    try {
      const text = Deno.readTextFileSync(`/etc/cni/net.d/${e.name}`);
      for (const m of text.matchAll(/"subnet"\s*:\s*"([0-9.]+\/\d+)"/g)) {
        try {
          out.push(parseSubnet(m[1]));
        } catch { /* IPv6 or odd: not ours to judge */ }
      }
    } catch { /* unreadable */ }
  }
  return out;
}

/** What `network create` takes. */
export interface CreateNetwork {
  name: string;
  subnet?: string;
  gateway?: string;
}

function newNetworkId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** The conflist of a bridge network: bridge + host-local, portmap, firewall, tuning. */
export function bridgeConflist(
  name: string,
  id: string,
  subnet: string,
  gateway: string,
): ConfList {
  return {
    cniVersion: "1.0.0",
    name,
    minicontainer: { id, created: new Date().toISOString() },
    plugins: [
      {
        type: "bridge",
        bridge: `mc-${id.slice(0, 12)}`,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        capabilities: { ips: true },
        ipam: {
          type: "host-local",
          ranges: [[{ subnet, gateway }]],
          routes: [{ dst: "0.0.0.0/0" }],
        },
      },
      // snat: published ports answer on 127.0.0.1 too (route_localnet + masquerade).
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
      { type: "firewall" },
      { type: "tuning" },
    ],
  };
}

/**
 * Creates a bridge network. A name in use, a subnet overlapping another
 * network or a host route, or a gateway outside the subnet is one sentence.
 */
export function createNetwork(paths: NetPaths, req: CreateNetwork): Promise<Network> {
  checkNetworkName(req.name);
  return withNetworksLock(paths, () => {
    const existing = listNetworks(paths);
    if (existing.some((n) => n.name === req.name)) {
      throw new ContainerError("network create", req.name, undefined, "the name is already in use");
    }
    const ours = existing.flatMap((n) => {
      try {
        return n.subnet ? [{ name: n.name, subnet: parseSubnet(n.subnet) }] : [];
      } catch {
        return [];
      }
    });
    let subnet: Subnet;
    if (req.subnet !== undefined) {
      subnet = parseSubnet(req.subnet, "--subnet");
      const other = ours.find((o) => overlaps(o.subnet, subnet));
      if (other) {
        throw new ContainerError(
          "network create",
          req.name,
          undefined,
          `subnet ${req.subnet} overlaps network "${other.name}" (${formatSubnet(other.subnet)})`,
        );
      }
      const route = hostRoutes().find((r) => overlaps(r, subnet));
      if (route) {
        throw new ContainerError(
          "network create",
          req.name,
          undefined,
          `subnet ${req.subnet} overlaps the host's route to ${formatSubnet(route)}`,
        );
      }
    } else {
      if (req.gateway !== undefined) throw usageError("--gateway needs --subnet");
      const chosen = chooseSubnet([
        ...hostRoutes(),
        ...ours.map((o) => o.subnet),
        ...systemCniSubnets(),
      ]);
      if (!chosen) {
        throw new ContainerError(
          "network create",
          req.name,
          undefined,
          "every subnet of the pool overlaps a route or network; give --subnet",
        );
      }
      subnet = chosen;
    }
    let gateway = firstHost(subnet);
    if (req.gateway !== undefined) {
      const g = parseIPv4(req.gateway);
      const broadcast = subnet.base + 2 ** (32 - subnet.prefix) - 1;
      if (g === undefined || !contains(subnet, g) || g === subnet.base || g === broadcast) {
        throw usageError(
          `--gateway "${req.gateway}" is not a host address of ${formatSubnet(subnet)}`,
        );
      }
      gateway = g;
    }
    const id = newNetworkId();
    const conflist = bridgeConflist(req.name, id, formatSubnet(subnet), formatIPv4(gateway));
    const file = `${paths.networksDir}/${req.name}.conflist`;
    try {
      Deno.writeTextFileSync(`${file}.tmp`, JSON.stringify(conflist, null, 2) + "\n");
      Deno.renameSync(`${file}.tmp`, file);
    } catch (e) {
      throw fromDenoError("write network", file, e);
    }
    return describe(conflist, file);
  });
}

/** The network `name`, making `bridge` on its first use. */
export async function networkForRun(paths: NetPaths, name: string): Promise<Network> {
  if (name === DEFAULT_NETWORK) {
    const found = listNetworks(paths).find((n) => n.name === name);
    if (found) return found;
    try {
      return await createNetwork(paths, { name });
    } catch (e) {
      // Made by a container starting at the same time.
      const again = listNetworks(paths).find((n) => n.name === name);
      if (again) return again;
      throw e;
    }
  }
  return findNetwork(paths, name);
}

/**
 * Removes a network's conflist, its leases and (for ours) its bridge device.
 * The caller checks that no container uses it.
 */
export async function removeNetworkFiles(paths: NetPaths, net: Network): Promise<void> {
  try {
    Deno.removeSync(net.file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fromDenoError("remove network", net.file, e);
  }
  try {
    Deno.removeSync(`${paths.ipamDir}/${net.name}`, { recursive: true });
  } catch { /* no leases yet */ }
  if (net.managed && net.bridge) {
    // The bridge plugin makes the device on first use and never removes it.
    await new Deno.Command("ip", {
      args: ["link", "delete", net.bridge],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => {});
  }
}

/** --ip: an IPv4 host address of `net`'s subnet other than its gateway. */
export function checkAddress(ip: string, net: Network): void {
  const n = parseIPv4(ip);
  if (n === undefined) throw usageError(`--ip "${ip}" is not an IPv4 address`);
  if (!net.subnet) return; // a conflist of the user's: its IPAM judges
  const s = parseSubnet(net.subnet);
  const broadcast = s.base + 2 ** (32 - s.prefix) - 1;
  if (!contains(s, n) || n === s.base || n === broadcast || ip === net.gateway) {
    throw usageError(
      `--ip ${ip} is not a free host address of network "${net.name}" (${net.subnet}, gateway ${net.gateway})`,
    );
  }
}
