/**
 * run's networking flags: --network, -p/-P, --ip, --network-alias,
 * --add-host, --dns*. They become the container's NetSetup (what
 * lib/net/attach.ts does between clone and release) and the bind mounts of
 * its /etc/hosts, /etc/hostname and /etc/resolv.conf. The CNI code loads
 * only when a CNI network is asked for.
 * @module
 */

import { ContainerError, usageError } from "../errors.ts";
import {
  addHostLines,
  buildResolvConf,
  etcMounts,
  hostResolvConf,
  LOCALHOST_LINES,
  type NetSetup,
  writeEtcFiles,
} from "../net/etc_files.ts";
import type { PortMapping } from "../net/cni.ts";
import type { Mount } from "../spec.ts";
import type { FlagDef } from "./args.ts";
import { ownerTag, parseOwner } from "../state/liveness.ts";

/** The flags, for run's table. */
export const NETWORK_FLAGS: FlagDef[] = [
  {
    name: "network",
    value: true,
    meta: "none|host|bridge|NAME|container:NAME",
    help: "none: only lo (default, unless -p); host: the host's; bridge or NAME: a CNI network",
  },
  {
    name: "publish",
    short: "p",
    value: true,
    repeat: true,
    meta: "[IP:]HOST:CTR[/tcp|udp]",
    help: "Publish a container port on the host (ranges: 8000-8001:80-81); implies bridge",
  },
  {
    name: "publish-all",
    short: "P",
    help: "Publish every port the image exposes on a free host port",
  },
  { name: "ip", value: true, meta: "ADDR", help: "The container's IPv4 address on its network" },
  {
    name: "network-alias",
    value: true,
    repeat: true,
    meta: "NAME",
    help: "Another name peers on a user-defined network reach it by",
  },
  {
    name: "add-host",
    value: true,
    repeat: true,
    meta: "NAME:IP",
    help: "Add a line to /etc/hosts",
  },
  { name: "dns", value: true, repeat: true, meta: "IP", help: "A nameserver for resolv.conf" },
  { name: "dns-search", value: true, repeat: true, meta: "DOMAIN", help: "A search domain" },
  { name: "dns-option", value: true, repeat: true, meta: "OPT", help: "A resolv.conf option" },
];

/** Where things are, and who the container is. */
export interface NetworkContext {
  id: string;
  hostname: string;
  /** A detached container's name (its peers reach it by it). */
  name?: string;
  /** Run with -d: a supervisor runs it, its state folder outlives this process. */
  detached: boolean;
  rootless: boolean;
  stateRoot: string;
  dataDir: string;
  /** The directories the root is made of (top first), and whether a user namespace is used. */
  roots: readonly string[];
  userns: boolean;
  /** The image's ExposedPorts, for -P. */
  exposed?: Record<string, unknown>;
}

/** What run applies to the spec. */
export interface NetworkPlan {
  setup: NetSetup;
  /** Mounts of the /etc files, to go before volumes. */
  mounts: Mount[];
  /** Share the host's network namespace. */
  hostNetwork: boolean;
  /** Join this network namespace file instead of making one (container:NAME). */
  joinPath?: string;
  /** Whether lib/net must run between clone and release. */
  attach: boolean;
}

function list(v: unknown): string[] {
  return (v as string[] | undefined) ?? [];
}

/**
 * Turns run's flags into the container's networking; writes its /etc files.
 * In a user namespace a missing /etc file cannot be created in a root owned
 * by unmapped ids: those mounts are left out (the root keeps what it has).
 */
export async function networkFromFlags(
  flags: Record<string, unknown>,
  ctx: NetworkContext,
): Promise<NetworkPlan> {
  const plan = await fromFlags(flags, ctx);
  if (!ctx.userns) return plan;
  const exists = (dest: string) =>
    ctx.roots.some((r) => {
      try {
        Deno.lstatSync(`${r}${dest}`);
        return true;
      } catch {
        return false;
      }
    });
  return { ...plan, mounts: plan.mounts.filter((m) => exists(m.destination)) };
}

async function fromFlags(
  flags: Record<string, unknown>,
  ctx: NetworkContext,
): Promise<NetworkPlan> {
  const publish = list(flags.publish);
  const publishAll = flags["publish-all"] === true;
  const network = (flags.network as string | undefined) ??
    (publish.length || publishAll ? "bridge" : "none");
  const dir = `${ctx.dataDir}/net/${ctx.id}`;
  const hostsBase = [LOCALHOST_LINES, ...addHostLines(list(flags["add-host"]))].join("\n") + "\n";
  const dns = {
    dns: list(flags.dns),
    search: list(flags["dns-search"]),
    options: list(flags["dns-option"]),
  };
  const aliases = list(flags["network-alias"]);
  const cni = network !== "none" && network !== "host" && !network.startsWith("container:");
  if ((publish.length || publishAll) && !cni) {
    throw usageError(`-p and -P need a bridge or user-defined network, not --network ${network}`);
  }
  if (flags.ip !== undefined && !cni) throw usageError(`--ip needs a CNI network, not ${network}`);
  if (aliases.length && (!cni || network === "bridge")) {
    throw usageError("--network-alias needs a user-defined network");
  }
  // The directory's owner: this process, and a detached container's state folder after it.
  const self = parseOwner(ownerTag())!;
  const root = ctx.stateRoot.startsWith("/") ? ctx.stateRoot : `${Deno.cwd()}/${ctx.stateRoot}`;
  const owner = { ...self, ...(ctx.detached ? { stateDir: `${root}/${ctx.id}` } : {}) };
  // A detached container's files stay until rm (with --rm, until it exits).
  const base = { dir, hostname: ctx.hostname, keep: ctx.detached && flags.rm !== true, owner };

  if (network === "none" || network === "host") {
    const setup: NetSetup = {
      ...base,
      mode: network,
      hostsBase: network === "host"
        ? readHostHosts() + addHostLines(list(flags["add-host"])).map((l) => `${l}\n`).join("")
        : `${hostsBase}127.0.1.1\t${ctx.hostname}\n`,
    };
    writeEtcFiles(setup, buildResolvConf(hostResolvConf(), dns, network === "host"));
    return { setup, mounts: etcMounts(dir), hostNetwork: network === "host", attach: false };
  }

  if (network.startsWith("container:")) {
    const target = await joinTarget(ctx, network.slice("container:".length));
    const setup: NetSetup = { ...base, mode: "container", network: target.id, hostsBase };
    writeEtcFiles(setup, "");
    // The other container's hosts and resolv.conf: one view of the namespace they share.
    return {
      setup,
      mounts: etcMounts(dir, target.dir),
      hostNetwork: false,
      joinPath: target.netns,
      attach: false,
    };
  }

  let ports: PortMapping[] = [];
  if (publish.length || publishAll) {
    const { exposedPorts, parsePublish } = await import("../net/ports.ts");
    ports = publish.flatMap(parsePublish);
    if (publishAll) ports.push(...exposedPorts(ctx.exposed));
  }
  if (ctx.rootless) {
    // No veth or iptables without root: a user-mode stack (pasta, slirp4netns) instead.
    if (network !== "bridge") {
      throw new ContainerError(
        "network",
        network,
        undefined,
        "user-defined networks need root; rootless containers get --network bridge (pasta or slirp4netns)",
      );
    }
    if (flags.ip !== undefined) throw usageError("--ip needs root");
    const setup: NetSetup = {
      ...base,
      mode: "user",
      ports,
      hostsBase: `${hostsBase}127.0.1.1\t${ctx.hostname}\n`,
    };
    writeEtcFiles(setup, buildResolvConf(hostResolvConf(), dns, false));
    return { setup, mounts: etcMounts(dir), hostNetwork: false, attach: true };
  }
  const { netPaths, networkForRun } = await import("../net/networks.ts");
  const paths = netPaths(ctx.dataDir);
  const net = await networkForRun(paths, network);
  if (flags.ip !== undefined) {
    const { checkAddress } = await import("../net/networks.ts");
    checkAddress(flags.ip as string, net);
  }
  const setup: NetSetup = {
    ...base,
    mode: "cni",
    network: net.name,
    networksDir: paths.networksDir,
    ipamDir: paths.ipamDir,
    ip: flags.ip as string | undefined,
    aliases: [...(ctx.name ? [ctx.name] : []), ...aliases],
    ports,
    hostsBase,
  };
  writeEtcFiles(setup, buildResolvConf(hostResolvConf(), dns, false));
  return { setup, mounts: etcMounts(dir), hostNetwork: false, attach: true };
}

function readHostHosts(): string {
  try {
    const text = Deno.readTextFileSync("/etc/hosts");
    return text.endsWith("\n") ? text : `${text}\n`;
  } catch {
    return `${LOCALHOST_LINES}\n`;
  }
}

/** The running container whose network namespace `--network container:REF` joins. */
async function joinTarget(ctx: NetworkContext, ref: string) {
  const { StateStore } = await import("../state/store.ts");
  const { liveStatus } = await import("../container/lifecycle.ts");
  const store = new StateStore(ctx.stateRoot);
  const state = store.read(store.resolve(ref));
  if (!state || liveStatus(state) !== "running" || !state.pid) {
    throw new ContainerError(
      "--network container:",
      ref,
      undefined,
      "that container is not running",
    );
  }
  if (!state.spec.linux.namespaces.some((n) => n.type === "network")) {
    throw new ContainerError(
      "--network container:",
      ref,
      undefined,
      "that container shares the host's network; use --network host",
    );
  }
  const dir = state.net?.setup.dir ?? `${ctx.dataDir}/net/${state.id}`;
  let netns = `/proc/${state.pid}/ns/net`;
  try {
    if (Deno.statSync(`${dir}/netns`).isFile) netns = `${dir}/netns`;
  } catch { /* no CNI network: its PID 1's namespace */ }
  return { id: state.id, dir, netns };
}
