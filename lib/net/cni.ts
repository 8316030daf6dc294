/**
 * Running CNI plugins as the CNI specification says: one executable per
 * plugin type found on CNI_PATH, the operation in CNI_COMMAND and the
 * container in CNI_CONTAINERID / CNI_NETNS / CNI_IFNAME, the network's
 * configuration on stdin, the result (or an error object) on stdout. A
 * conflist is a chain: ADD runs the plugins in order, each given the
 * previous one's result as prevResult; DEL runs them in reverse.
 * @module
 */

import { ContainerError } from "../errors.ts";

/** Where plugins are looked for: Debian's package, then the upstream default. */
export const DEFAULT_CNI_PATH = "/usr/lib/cni:/opt/cni/bin";

/** The plugin directories in effect (MINICONTAINER_CNI_PATH overrides). */
export function cniPath(): string {
  return Deno.env.get("MINICONTAINER_CNI_PATH") ?? DEFAULT_CNI_PATH;
}

/** One plugin of a conflist. */
export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  ipam?: { type?: string; dataDir?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** A network configuration list (.conflist). */
export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
  [k: string]: unknown;
}

/** A port published through the portmap plugin's portMappings capability. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
  hostIP?: string;
}

/** What a runtime passes through capabilities (CNI conventions). */
export interface RuntimeConfig {
  portMappings?: PortMapping[];
  ips?: string[];
}

/** A CNI result (spec 1.0.0; 0.4.0 has the same fields we read). */
export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; search?: string[]; options?: string[] };
}

/** Identifies the container to the plugins. */
export interface Attachment {
  containerId: string;
  /** Path of the container's network namespace file. */
  netns: string;
  ifname: string;
}

/** The executable of plugin `type`; a sentence naming it when the host lacks it. */
export function findPlugin(type: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) {
    throw new ContainerError("CNI plugin", JSON.stringify(type), undefined, "is not a plugin name");
  }
  const dirs = cniPath().split(":").filter(Boolean);
  for (const dir of dirs) {
    try {
      if (Deno.statSync(`${dir}/${type}`).isFile) return `${dir}/${type}`;
    } catch { /* next */ }
  }
  throw new ContainerError(
    "CNI plugin",
    type,
    undefined,
    `not found in ${dirs.join(" or ")}; install containernetworking-plugins`,
  );
}

/**
 * The configuration one plugin of `list` is given: its own object with the
 * list's name and version, the runtime config its capabilities ask for, the
 * previous result, and host-local's lease directory set to `ipamDir` unless
 * the conflist chose one (so leases stay in minicontainer's data directory).
 */
export function pluginConfig(
  list: ConfList,
  plugin: PluginConf,
  rt: RuntimeConfig,
  ipamDir: string,
  prevResult?: CniResult,
): Record<string, unknown> {
  const conf: Record<string, unknown> = {
    ...plugin,
    name: list.name,
    cniVersion: list.cniVersion,
  };
  const runtimeConfig: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rt)) {
    if (plugin.capabilities?.[key] && value !== undefined) runtimeConfig[key] = value;
  }
  if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
  if (plugin.ipam?.type === "host-local" && !plugin.ipam.dataDir) {
    conf.ipam = { ...plugin.ipam, dataDir: ipamDir };
  }
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

const decoder = new TextDecoder();

/** Runs one plugin; resolves to its parsed stdout (empty for DEL). */
export async function execPlugin(
  command: "ADD" | "DEL" | "CHECK",
  att: Attachment,
  conf: Record<string, unknown>,
): Promise<CniResult | undefined> {
  const type = String(conf.type);
  const path = findPlugin(type);
  let out: Deno.CommandOutput;
  try {
    const child = new Deno.Command(path, {
      clearEnv: true,
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: att.containerId,
        CNI_NETNS: att.netns,
        CNI_IFNAME: att.ifname,
        CNI_PATH: cniPath(),
        // The plugins run iptables and ip.
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(JSON.stringify(conf)));
    await w.close();
    out = await child.output();
  } catch (e) {
    throw new ContainerError(`CNI ${command} plugin`, path, undefined, (e as Error).message);
  }
  const stdout = decoder.decode(out.stdout).trim();
  if (out.code !== 0) {
    let reason = decoder.decode(out.stderr).trim() || stdout || `exit status ${out.code}`;
    try {
      const err = JSON.parse(stdout) as { msg?: string; details?: string };
      if (err.msg) reason = err.details ? `${err.msg}: ${err.details}` : err.msg;
    } catch { /* not JSON: stderr or raw text */ }
    throw new ContainerError(
      `CNI ${command} ${type} on network`,
      String(conf.name),
      undefined,
      reason.split("\n")[0],
    );
  }
  if (!stdout) return undefined;
  try {
    return JSON.parse(stdout) as CniResult;
  } catch {
    throw new ContainerError(
      `CNI ${command} ${type} on network`,
      String(conf.name),
      undefined,
      `the plugin printed no JSON result`,
    );
  }
}

/** ADD: the list's plugins in order, each given the previous result; the last result. */
export async function addNetwork(
  list: ConfList,
  att: Attachment,
  rt: RuntimeConfig,
  ipamDir: string,
): Promise<CniResult> {
  // Every plugin must exist before the first one changes anything.
  for (const p of list.plugins) findPlugin(p.type);
  let result: CniResult | undefined;
  for (const plugin of list.plugins) {
    result = await execPlugin("ADD", att, pluginConfig(list, plugin, rt, ipamDir, result)) ??
      result;
  }
  return result ?? {};
}

/**
 * DEL: the list's plugins in reverse order. Every plugin runs even when one
 * fails (each removes what it made); the first failure is thrown after.
 */
export async function delNetwork(
  list: ConfList,
  att: Attachment,
  rt: RuntimeConfig,
  ipamDir: string,
  prevResult?: CniResult,
): Promise<void> {
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await execPlugin("DEL", att, pluginConfig(list, plugin, rt, ipamDir, prevResult));
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
}
