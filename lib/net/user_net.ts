/**
 * Rootless networking: an unprivileged user cannot make veths or iptables
 * rules, so a user-mode network stack in the runtime's own name (pasta from
 * Debian's passt, else slirp4netns) joins the container's user and network
 * namespaces, gives it a tap interface with outbound TCP/UDP through the
 * host's sockets, and forwards -p ports from the host. Started between clone
 * and release like CNI, stopped at teardown.
 * @module
 */

import { ContainerError } from "../errors.ts";
import type { PortMapping } from "./cni.ts";
import type { NetSetup } from "./etc_files.ts";

const SEARCH = ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin"];

function which(name: string): string | undefined {
  for (const dir of SEARCH) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* next */ }
  }
  return undefined;
}

/** The helper to use: MINICONTAINER_ROOTLESS_NET, else pasta, else slirp4netns. */
export function userNetTool(): { name: "pasta" | "slirp4netns"; path: string } {
  const wanted = Deno.env.get("MINICONTAINER_ROOTLESS_NET");
  for (const name of ["pasta", "slirp4netns"] as const) {
    if (wanted && wanted !== name) continue;
    const path = which(name);
    if (path) return { name, path };
  }
  throw new ContainerError(
    "rootless network",
    wanted ?? "pasta or slirp4netns",
    undefined,
    "not found; install passt or slirp4netns",
  );
}

/** Both tools open /dev/net/tun as the user: say so plainly when they cannot. */
function checkTun(): void {
  try {
    Deno.openSync("/dev/net/tun", { read: true, write: true }).close();
  } catch (e) {
    throw new ContainerError(
      "rootless network: open",
      "/dev/net/tun",
      undefined,
      `${(e as Error).name === "PermissionDenied" ? "Permission denied" : (e as Error).message}` +
        " (pasta and slirp4netns need it readable and writable by you)",
    );
  }
}

/** pasta's -t/-u value for one mapping: "[ADDR/]HOST:CTR". */
export function pastaSpec(m: PortMapping): string {
  return `${m.hostIP ? `${m.hostIP}/` : ""}${m.hostPort}:${m.containerPort}`;
}

/** pasta's arguments for container PID 1 `pid`. */
export function pastaArgs(pid: number, pidFile: string, ports: readonly PortMapping[]): string[] {
  const args = ["--config-net", "--quiet", "--pid", pidFile, "--no-map-gw"];
  for (const proto of ["tcp", "udp"] as const) {
    const flag = proto === "tcp" ? "-t" : "-u";
    const mine = ports.filter((m) => m.protocol === proto);
    if (!mine.length) args.push(flag, "none");
    for (const m of mine) args.push(flag, pastaSpec(m));
  }
  // Nothing of the host's loopback is forwarded into the container.
  args.push("-T", "none", "-U", "none", String(pid));
  return args;
}

const decoder = new TextDecoder();

function reasonOf(stderr: Uint8Array): string {
  return decoder.decode(stderr).split("\n").filter((l) => l && !l.startsWith("Failed to send"))
    .pop() ?? "failed";
}

async function startPasta(path: string, pid: number, setup: NetSetup, ports: PortMapping[]) {
  const pidFile = `${setup.dir}/helper.pid`;
  // pasta configures the namespace, then forks into the background and exits.
  const out = await new Deno.Command(path, {
    args: pastaArgs(pid, pidFile, ports),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new ContainerError("rootless network: pasta", undefined, undefined, reasonOf(out.stderr));
  }
  const helper = Number(Deno.readTextFileSync(pidFile).trim());
  if (!Number.isInteger(helper) || helper <= 0) {
    throw new ContainerError("rootless network: pasta", pidFile, undefined, "no pid written");
  }
  return helper;
}

function hasDefaultRoute(pid: number): boolean {
  try {
    return /^\S+\t00000000\t/m.test(Deno.readTextFileSync(`/proc/${pid}/net/route`));
  } catch {
    return false;
  }
}

async function slirpApi(socket: string, request: unknown): Promise<void> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    await conn.write(new TextEncoder().encode(JSON.stringify(request)));
    conn.closeWrite();
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf) ?? 0;
    const reply = JSON.parse(decoder.decode(buf.subarray(0, n)) || "{}");
    if (reply.error) {
      throw new ContainerError(
        "rootless network: slirp4netns",
        undefined,
        undefined,
        reply.error.desc ?? JSON.stringify(reply.error),
      );
    }
  } finally {
    conn.close();
  }
}

async function startSlirp(path: string, pid: number, setup: NetSetup, ports: PortMapping[]) {
  const socket = `${setup.dir}/slirp.sock`;
  // A socket path must fit in 108 bytes: slirp4netns binds it relative to its own working
  // directory, we connect through /proc/PID/cwd.
  const child = new Deno.Command(path, {
    args: [
      "--configure",
      "--mtu=65520",
      "--disable-host-loopback",
      "--api-socket=slirp.sock",
      String(pid),
      "tap0",
    ],
    cwd: setup.dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // It serves until killed; its exit before readiness is the failure to report.
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  const end = Date.now() + 10_000;
  while (!(hasDefaultRoute(pid) && exists(socket))) {
    if (exited || Date.now() > end) {
      if (!exited) child.kill("SIGKILL");
      await status;
      const err = await new Response(child.stderr).arrayBuffer().catch(() => new ArrayBuffer(0));
      throw new ContainerError(
        "rootless network: slirp4netns",
        undefined,
        undefined,
        exited ? reasonOf(new Uint8Array(err)) : "did not configure the namespace in 10 s",
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  child.stderr.cancel().catch(() => {});
  child.unref();
  for (const m of ports) {
    await slirpApi(`/proc/${child.pid}/cwd/slirp.sock`, {
      execute: "add_hostfwd",
      arguments: {
        proto: m.protocol,
        host_addr: m.hostIP ?? "0.0.0.0",
        host_port: m.hostPort,
        guest_port: m.containerPort,
      },
    });
  }
  return child.pid;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the user-mode network for container PID 1 `pid` (waiting on its
 * sync pipe, id maps written) with `ports` published; resolves to the
 * helper's pid.
 */
export async function startUserNet(
  pid: number,
  setup: NetSetup,
  ports: PortMapping[],
): Promise<number> {
  const tool = userNetTool();
  checkTun();
  return tool.name === "pasta"
    ? await startPasta(tool.path, pid, setup, ports)
    : await startSlirp(tool.path, pid, setup, ports);
}
