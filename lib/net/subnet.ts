/**
 * IPv4 subnets: parsing, overlap, and choosing one that no host route, no
 * other network of ours and no CNI network of another runtime (podman's
 * 10.88/16) already covers.
 * @module
 */

import { usageError } from "../errors.ts";

/** An IPv4 subnet: its first address as a 32-bit number and its prefix length. */
export interface Subnet {
  base: number;
  prefix: number;
}

/** "10.1.2.3" to a 32-bit number; undefined when it is not a dotted quad. */
export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** A 32-bit number as a dotted quad. */
export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.1.0.0/16" to a subnet; a usage error naming `what` otherwise. */
export function parseSubnet(text: string, what = "subnet"): Subnet {
  const [addr, bits, extra] = text.split("/");
  const ip = parseIPv4(addr);
  const prefix = Number(bits);
  if (ip === undefined || extra !== undefined || !/^\d+$/.test(bits ?? "") || prefix > 30) {
    throw usageError(`${what} "${text}" is not an IPv4 subnet such as 10.89.0.0/24 (at most /30)`);
  }
  if ((ip & mask(prefix)) >>> 0 !== ip) {
    throw usageError(
      `${what} "${text}" has host bits set; the subnet is ${
        formatSubnet({ base: (ip & mask(prefix)) >>> 0, prefix })
      }`,
    );
  }
  return { base: ip, prefix };
}

/** A subnet as "a.b.c.d/n". */
export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

/** Whether `ip` lies in `s`. */
export function contains(s: Subnet, ip: number): boolean {
  return ((ip & mask(s.prefix)) >>> 0) === s.base;
}

/** Whether two subnets share any address. */
export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** The first host address of `s`: the gateway docker and podman choose. */
export function firstHost(s: Subnet): number {
  return s.base + 1;
}

/**
 * The host's routes other than default ones, from /proc/net/route (the
 * kernel's table as `ip route` shows it): a subnet overlapping one of them
 * would hide part of the host's network.
 */
export function hostRoutes(text?: string): Subnet[] {
  let table = text;
  if (table === undefined) {
    try {
      table = Deno.readTextFileSync("/proc/net/route");
    } catch {
      return [];
    }
  }
  const out: Subnet[] = [];
  for (const line of table.trim().split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    // Addresses are little-endian hex of the network-order bytes.
    const le = (hex: string) => {
      const n = parseInt(hex, 16);
      return (((n & 255) << 24) >>> 0) + (((n >>> 8) & 255) << 16) + (((n >>> 16) & 255) << 8) +
        ((n >>> 24) & 255);
    };
    const dest = le(f[1]);
    const m = le(f[7]);
    const prefix = 32 - Math.log2(((~m) >>> 0) + 1);
    if (prefix === 0 || !Number.isInteger(prefix)) continue; // default route
    out.push({ base: (dest & m) >>> 0, prefix });
  }
  return out;
}

/** Where subnets are chosen from: docker's pools (172.17-31.0.0/16, then 192.168.N.0/20). */
export function* candidatePool(): Generator<Subnet> {
  for (let b = 17; b <= 31; b++) yield { base: parseIPv4(`172.${b}.0.0`)!, prefix: 16 };
  for (let c = 0; c < 256; c += 16) yield { base: parseIPv4(`192.168.${c}.0`)!, prefix: 20 };
}

/** The first candidate that overlaps none of `taken`; undefined when the pool is used up. */
export function chooseSubnet(taken: readonly Subnet[]): Subnet | undefined {
  for (const s of candidatePool()) {
    if (!taken.some((t) => overlaps(s, t))) return s;
  }
  return undefined;
}
