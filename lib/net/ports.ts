/**
 * Published ports: docker's `-p [IP:][HOST:]CTR[/tcp|udp]` (ranges of equal
 * length on both sides) and `-P` (every ExposedPorts entry of the image on
 * a free host port), as the portmap plugin's portMappings. A host port that
 * something already listens on, or that another container publishes, is
 * refused before anything is set up.
 * @module
 */

import { ContainerError, usageError } from "../errors.ts";
import type { PortMapping } from "./cni.ts";
import { parseIPv4 } from "./subnet.ts";

function portNumber(text: string, spec: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) {
    throw usageError(`-p "${spec}": "${text}" is not a port (1-65535)`);
  }
  return n;
}

function portRange(text: string, spec: string): number[] {
  const [a, b, extra] = text.split("-");
  if (extra !== undefined) throw usageError(`-p "${spec}": "${text}" is not a port or a range`);
  const lo = portNumber(a, spec);
  const hi = b === undefined ? lo : portNumber(b, spec);
  if (hi < lo) throw usageError(`-p "${spec}": range ${text} ends before it starts`);
  if (hi - lo >= 1024) throw usageError(`-p "${spec}": ranges take at most 1024 ports`);
  return Array.from({ length: hi - lo + 1 }, (_, k) => lo + k);
}

/** One -p value as mappings; hostPort 0 means "a free port, chosen at start". */
export function parsePublish(spec: string): PortMapping[] {
  let rest = spec;
  let protocol = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    protocol = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
  }
  if (protocol !== "tcp" && protocol !== "udp") {
    throw usageError(`-p "${spec}": unknown protocol "${protocol}" (tcp or udp)`);
  }
  const parts = rest.split(":");
  if (parts.length > 3 || parts.some((p, k) => p === "" && !(parts.length === 3 && k === 1))) {
    throw usageError(`-p "${spec}" is not [IP:][HOST:]CONTAINER[/tcp|udp]`);
  }
  const hostIP = parts.length === 3 ? parts[0] : undefined;
  if (hostIP !== undefined && parseIPv4(hostIP) === undefined) {
    throw usageError(`-p "${spec}": "${hostIP}" is not an IPv4 address`);
  }
  const ctr = portRange(parts[parts.length - 1], spec);
  const hostText = parts.length >= 2 ? parts[parts.length - 2] : "";
  const host = hostText ? portRange(hostText, spec) : ctr.map(() => 0);
  if (host.length !== ctr.length) {
    throw usageError(`-p "${spec}": the host and container ranges differ in length`);
  }
  return ctr.map((c, k) => ({
    hostPort: host[k],
    containerPort: c,
    protocol: protocol as "tcp" | "udp",
    ...(hostIP && hostIP !== "0.0.0.0" ? { hostIP } : {}),
  }));
}

/** -P: an image's ExposedPorts ("80/tcp", "53/udp", "8080") on free host ports. */
export function exposedPorts(exposed: Record<string, unknown> | undefined): PortMapping[] {
  return Object.keys(exposed ?? {}).map((key) => {
    const [port, proto = "tcp"] = key.split("/");
    return parsePublish(`${port}/${proto}`)[0];
  });
}

function tryBind(m: PortMapping): number | undefined {
  const hostname = m.hostIP ?? "0.0.0.0";
  try {
    if (m.protocol === "udp") {
      const l = Deno.listenDatagram({ transport: "udp", hostname, port: m.hostPort });
      const port = (l.addr as Deno.NetAddr).port;
      l.close();
      return port;
    }
    const l = Deno.listen({ hostname, port: m.hostPort });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    return port;
  } catch {
    return undefined;
  }
}

/**
 * The mappings with free host ports chosen for 0, each host port checked:
 * nothing on the host listens on it and no other container in `published`
 * publishes it. A taken one is one sentence naming it.
 */
export function claimPorts(
  mappings: readonly PortMapping[],
  published: readonly PortMapping[],
): PortMapping[] {
  const out: PortMapping[] = [];
  for (const m of mappings) {
    const clash = (p: PortMapping) =>
      p.protocol === m.protocol && p.hostPort === m.hostPort &&
      (!p.hostIP || !m.hostIP || p.hostIP === m.hostIP);
    if (m.hostPort !== 0 && (published.some(clash) || out.some(clash))) {
      throw new ContainerError(
        "publish port",
        `${m.hostIP ?? "0.0.0.0"}:${m.hostPort}/${m.protocol}`,
        undefined,
        "another container already publishes it",
      );
    }
    const port = tryBind(m);
    if (port === undefined) {
      throw new ContainerError(
        "publish port",
        `${m.hostIP ?? "0.0.0.0"}:${m.hostPort}/${m.protocol}`,
        undefined,
        "the port is already in use on the host",
      );
    }
    out.push({ ...m, hostPort: port });
  }
  return out;
}

/** A mapping as docker's `port` prints it: "80/tcp -> 0.0.0.0:8080". */
export function formatMapping(m: PortMapping): string {
  return `${m.containerPort}/${m.protocol} -> ${m.hostIP ?? "0.0.0.0"}:${m.hostPort}`;
}
