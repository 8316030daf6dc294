/**
 * `minicontainer run [OPTIONS] [--] CMD [ARGS...]`: flags to a spec, then
 * the container runs in the foreground and its exit status becomes ours.
 * @module
 */

import { print } from "./output.ts";
import { boundedTmp, defaultSpec } from "../container/default_spec.ts";
import { runContainer } from "../container/run.ts";
import { debugLine } from "../debug.ts";
import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import {
  dataDir,
  defaultRootfsPath,
  ensureDefaultRootfs,
  holdContainerDir,
  isRootfsReady,
  makeContainerDir,
  makeWritableLayer,
  removeContainerDirAsync,
} from "../rootfs/default.ts";
import { chooseMappings } from "../userns/mappings.ts";
import { copyLayers, overlaySupported, overlayVolatileSupported } from "../image/copy_root.ts";
import type { RootOverlay } from "../mounts/plan.ts";
import type { IdMapping, Mount } from "../spec.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { TERMINAL_FLAGS, terminalFlags } from "./terminal_flags.ts";
import { globalOptions } from "./global.ts";
import {
  checkName,
  type ContainerState,
  generatedName,
  nameInUse,
  newId,
  StateStore,
} from "../state/store.ts";
import { ownStartTime, processStartTime } from "../state/liveness.ts";
import { DEFAULT_LOG } from "../state/logs.ts";
import { NETWORK_FLAGS, networkFromFlags } from "./network_flags.ts";
import { removeUnattachedNetDir } from "../net/etc_files.ts";
import { parseBytes, resourcesFromFlags } from "./resource_flags.ts";
import { applySecurityFlags, SECURITY_FLAGS } from "./security_flags.ts";
import {
  IMAGE_ANNOTATION,
  labelAnnotations,
  PASSWD_ROOT,
  STOP_TIMEOUT_ANNOTATION,
} from "./annotations.ts";

const FLAGS: FlagDef[] = [
  {
    name: "rootfs",
    value: true,
    meta: "DIR",
    help: "Root filesystem (default: the built-in busybox rootfs)",
  },
  {
    name: "hostname",
    short: "h",
    value: true,
    meta: "NAME",
    help: "Container host name (default: a generated one)",
  },
  {
    name: "env",
    short: "e",
    value: true,
    repeat: true,
    meta: "K=V",
    help: "Set an environment variable (K alone: take the host's)",
  },
  { name: "env-file", value: true, repeat: true, meta: "FILE", help: "Read K=V lines from a file" },
  {
    name: "label",
    short: "l",
    value: true,
    repeat: true,
    meta: "K=V",
    help: "Set a label (ps --filter label=K=V finds it)",
  },
  {
    name: "stop-signal",
    value: true,
    meta: "SIGNAL",
    help: "Signal stop sends first (default SIGTERM, or the image's)",
  },
  {
    name: "stop-timeout",
    value: true,
    meta: "SECONDS",
    help: "stop's grace period before SIGKILL (default 10)",
  },
  {
    name: "cidfile",
    value: true,
    meta: "FILE",
    help: "Write the container id to FILE (a new file)",
  },
  { name: "shm-size", value: true, meta: "BYTES", help: "Size of /dev/shm (default 64m)" },
  {
    name: "sysctl",
    value: true,
    repeat: true,
    meta: "K=V",
    help:
      "A namespaced kernel parameter (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)",
  },
  {
    name: "workdir",
    short: "w",
    value: true,
    meta: "DIR",
    help: "Working directory inside the container",
  },
  {
    name: "volume",
    short: "v",
    value: true,
    repeat: true,
    meta: "HOST|VOLUME:CTR[:ro]",
    help: "Bind mount a host path, or a named volume (made when missing)",
  },
  {
    name: "mount",
    value: true,
    repeat: true,
    meta: "type=bind|volume|tmpfs,source=S,target=T[,readonly]",
    help: "docker's --mount (tmpfs-size=, tmpfs-mode= for a tmpfs)",
  },
  {
    name: "tmpfs",
    value: true,
    repeat: true,
    meta: "PATH[:OPTIONS]",
    help: "Mount a tmpfs (noexec,nosuid,nodev unless OPTIONS say; size=64m bounds it)",
  },
  ...NETWORK_FLAGS,
  {
    name: "userns",
    value: true,
    meta: "remap|HOSTID:SIZE",
    help:
      "Map container root to unprivileged host ids (remap: /etc/subuid's range or 100000:65536)",
  },
  ...TERMINAL_FLAGS,
  {
    name: "entrypoint",
    value: true,
    meta: "CMD",
    help: 'Replace the image\'s entrypoint ("" clears it)',
  },
  {
    name: "pull",
    value: true,
    meta: "missing|always|never",
    help: "Pull the image before running (default missing: when it is not here)",
  },
  { name: "detach", short: "d", help: "Run in the background; print the container id" },
  {
    name: "name",
    value: true,
    meta: "NAME",
    help: "Name of the container (default: generated)",
  },
  {
    name: "rm",
    help: "Remove the container when it exits (else it is kept, with its log, until rm)",
  },
  {
    name: "restart",
    value: true,
    meta: "POLICY",
    help: "Under a monitor (-d, start): no, on-failure[:N], always, unless-stopped",
  },
  {
    name: "log-opt",
    value: true,
    repeat: true,
    meta: "K=V",
    help: "The log's rotation: max-size=BYTES (default 20m), max-file=N (default 5)",
  },
  { name: "init", help: "Run a tiny init as PID 1 that forwards signals and reaps zombies" },
  ...SECURITY_FLAGS,
  {
    name: "memory",
    short: "m",
    value: true,
    meta: "BYTES",
    help: "Memory limit (docker units: 512k, 64m, 1g)",
  },
  {
    name: "memory-swap",
    value: true,
    meta: "BYTES",
    help: "Memory plus swap limit (-1: unlimited swap)",
  },
  { name: "memory-reservation", value: true, meta: "BYTES", help: "Soft memory limit" },
  { name: "cpus", value: true, meta: "N", help: "CPUs the container may use, e.g. 0.5" },
  {
    name: "cpu-shares",
    short: "c",
    value: true,
    meta: "N",
    help: "Relative CPU weight (1024 is the default)",
  },
  { name: "cpuset-cpus", value: true, meta: "LIST", help: "CPUs the container may run on (0-1,3)" },
  { name: "cpuset-mems", value: true, meta: "LIST", help: "Memory nodes the container may use" },
  { name: "pids-limit", value: true, meta: "N", help: "Most processes at once (-1: unlimited)" },
  { name: "blkio-weight", value: true, meta: "N", help: "Block I/O weight, 10 to 1000" },
  {
    name: "ulimit",
    value: true,
    repeat: true,
    meta: "NAME=SOFT[:HARD]",
    help: "An rlimit (nofile, nproc, core, ...)",
  },
  {
    name: "cgroup-parent",
    value: true,
    meta: "PATH",
    help: "Parent cgroup (default: the runtime's own)",
  },
  { name: "debug", help: "Print each setup step, parent and child" },
  { name: "help", help: "Show this help" },
];

/** Built when asked for: ~100 flags' help is not paid by every start. */
const help = () =>
  `Usage: minicontainer run [OPTIONS] [--] IMAGE|CMD [ARG...]

Run a command in new PID, mount, UTS, IPC, network and cgroup namespaces,
inside a root filesystem of its own: an image's (a local one named by the
first word, on an overlayfs of its layers), --rootfs DIR, or the default
busybox rootfs. The exit status is CMD's own; 125 means the
runtime failed, 126 CMD cannot be executed, 127 CMD was not found.
Without --rm the container is kept once it exits, with its writable layer
and its log (ps -a, logs, start, rm); -d runs it in the background.

Options:
${flagHelp(FLAGS)}`;

/** create takes every flag of run but -d: a created container starts in the background. */
const CREATE_FLAGS = FLAGS.filter((f) => f.name !== "detach");

const createHelp = () =>
  `Usage: minicontainer create [OPTIONS] [--] IMAGE|CMD [ARG...]

Create a container as run would (its root, writable layer, networking
files and state) without starting it, and print its full id. ps -a shows
it "Created"; start runs the stored command (start -a to wait for it),
in the background under its monitor, as run -d does. --rm removes it
once it has run; --restart applies from its start.

Under runc's global flags (--log, --log-format, --systemd-cgroup), with a
runc-only flag (-b/--bundle, --pid-file, --console-socket, --no-pivot,
--no-new-keyring, --preserve-fds), or as 'create ID' alone in a directory
holding config.json, create is runc's instead: see 'minicontainer --help'.

Options:
${flagHelp(CREATE_FLAGS)}`;

/** A hostname the kernel takes: at most 64 bytes (HOST_NAME_MAX). */
export function checkHostname(name: string): void {
  if (new TextEncoder().encode(name).length > 64) {
    throw usageError(`hostname "${name}" is longer than 64 bytes`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(name)) {
    throw usageError(`hostname "${name}" may hold only letters, digits, "." and "-"`);
  }
}

/** Makes (when missing) a named volume; its data folder. Loaded only when a volume is named. */
type VolumeMaker = (name: string) => string;

/** Whether `-v` names a volume (not a host path): its first part is neither absolute nor ./ */
function namesVolume(text: string): boolean {
  return !/^[/.]/.test(text) && text.includes(":");
}

/** Parses `-v HOST:CONTAINER[:ro|rw]` or `-v VOLUME:CONTAINER[:ro|rw]` into a bind mount. */
export function parseVolume(text: string, volume?: VolumeMaker): Mount {
  const parts = text.split(":");
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    throw usageError(`volume "${text}" is not HOST:CONTAINER[:ro|rw]`);
  }
  const [host, target, mode = "rw"] = parts;
  if (mode !== "ro" && mode !== "rw") throw usageError(`volume "${text}": mode must be ro or rw`);
  if (!target.startsWith("/")) {
    throw usageError(`volume "${text}": container path must be absolute`);
  }
  let source: string;
  if (!host.startsWith("/") && !host.startsWith(".")) {
    if (!volume) throw usageError(`volume "${text}": named volumes need the volume store`);
    source = volume(host);
  } else {
    source = host.startsWith("/") ? host : `${Deno.cwd()}/${host}`;
    try {
      Deno.statSync(source);
    } catch {
      throw new ContainerError("volume", source, 2);
    }
  }
  return {
    destination: target,
    type: "bind",
    source,
    options: ["rbind", mode === "ro" ? "ro" : "rw"],
  };
}

/**
 * Parses docker's `--mount type=bind|volume|tmpfs,source=S,target=T[,readonly]
 * [,tmpfs-size=N][,tmpfs-mode=M]` into the mount -v or --tmpfs would give.
 */
export function parseMount(text: string, volume?: VolumeMaker): Mount {
  const f: Record<string, string> = {};
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "true" : part.slice(eq + 1);
    const name = ({ src: "source", dst: "target", destination: "target", ro: "readonly" } as Record<
      string,
      string
    >)[key] ?? key;
    if (!["type", "source", "target", "readonly", "tmpfs-size", "tmpfs-mode"].includes(name)) {
      throw usageError(`--mount "${text}": unknown key "${key}"`);
    }
    f[name] = value;
  }
  const type = f.type ?? "volume";
  const ro = f.readonly !== undefined && f.readonly !== "false" && f.readonly !== "0";
  if (!f.target) throw usageError(`--mount "${text}": target= is required`);
  if (type === "tmpfs") {
    if (f.source) throw usageError(`--mount "${text}": a tmpfs has no source`);
    const opts = [
      ...(f["tmpfs-size"] ? [`size=${f["tmpfs-size"]}`] : []),
      ...(f["tmpfs-mode"] ? [`mode=${f["tmpfs-mode"]}`] : []),
      ...(ro ? ["ro"] : []),
    ];
    return parseTmpfs(opts.length ? `${f.target}:${opts.join(",")}` : f.target);
  }
  if (type === "bind") {
    if (!f.source?.startsWith("/")) {
      throw usageError(`--mount "${text}": a bind's source must be an absolute host path`);
    }
  } else if (type === "volume") {
    // No source: an anonymous volume, a generated name as docker gives.
    f.source ??= Array.from(
      crypto.getRandomValues(new Uint8Array(32)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    if (/^[/.]/.test(f.source)) {
      throw usageError(`--mount "${text}": a volume's source is a volume name, not a path`);
    }
  } else throw usageError(`--mount "${text}": type must be bind, volume or tmpfs`);
  return parseVolume(`${f.source}:${f.target}${ro ? ":ro" : ""}`, volume);
}

/** mount(2) flags --tmpfs takes (lib/mounts/options.ts knows each). */
const TMPFS_FLAGS = new Set([
  "ro",
  "rw",
  "nosuid",
  "suid",
  "nodev",
  "dev",
  "noexec",
  "exec",
  "sync",
  "async",
  "dirsync",
  "atime",
  "noatime",
  "nodiratime",
  "relatime",
  "strictatime",
]);
/** tmpfs's own options --tmpfs takes, and the form of their values. */
const TMPFS_DATA: Record<string, RegExp> = {
  size: /^\d+[kmg%]?$/i,
  nr_inodes: /^\d+[kmg]?$/i,
  mode: /^[0-7]{3,4}$/,
  uid: /^\d+$/,
  gid: /^\d+$/,
};

/**
 * Parses `--tmpfs PATH[:OPTIONS]` (docker's flag) into an ordinary spec
 * mount, resolved inside the container like any other. docker's defaults:
 * noexec, nosuid, nodev, read-write, mode 1777 and no size limit (the
 * kernel's: half of RAM, charged to the container's memory cgroup); OPTIONS
 * add to them, later ones winning (`exec` undoes `noexec`).
 */
export function parseTmpfs(text: string): Mount {
  const colon = text.indexOf(":");
  const path = colon < 0 ? text : text.slice(0, colon);
  const given = colon < 0 ? [] : text.slice(colon + 1).split(",");
  if (!path.startsWith("/")) throw usageError(`--tmpfs "${text}": the path must be absolute`);
  const destination = path.replace(/\/+$/, "");
  if (!destination) throw usageError(`--tmpfs "${text}": cannot mount over the container's root`);
  for (const opt of given) {
    const eq = opt.indexOf("=");
    const ok = eq < 0
      ? TMPFS_FLAGS.has(opt)
      : TMPFS_DATA[opt.slice(0, eq)]?.test(opt.slice(eq + 1));
    if (!ok) {
      throw usageError(
        `--tmpfs "${text}": unknown or malformed option "${opt}" (${[...TMPFS_FLAGS].join(", ")}, ${
          Object.keys(TMPFS_DATA).map((k) => `${k}=`).join(", ")
        })`,
      );
    }
  }
  return {
    destination,
    type: "tmpfs",
    source: "tmpfs",
    options: ["noexec", "nosuid", "nodev", ...given],
  };
}

/** Mounts in an order where none hides another: outer paths first (docker sorts them so too). */
export function byDepth(mounts: readonly Mount[]): Mount[] {
  const depth = (m: Mount) => m.destination.split("/").filter(Boolean).length;
  return [...mounts].sort((a, b) => depth(a) - depth(b));
}

/**
 * Gives the writable layer to the container's root when a user namespace
 * maps it to another host id (--userns remap): overlayfs creates files in
 * upper and work with the ids of whoever mounted it, the container's root.
 * True when it did (root is mapped to an id other than ours).
 */
function giveLayerTo(
  dirs: readonly string[],
  maps: { uid: IdMapping[]; gid: IdMapping[] },
): boolean {
  const uid = maps.uid.find((m) => m.containerID === 0)?.hostID;
  const gid = maps.gid.find((m) => m.containerID === 0)?.hostID;
  if (uid === undefined || gid === undefined || uid === Deno.uid()) return false;
  for (const d of dirs) {
    try {
      Deno.chownSync(d, uid, gid);
    } catch (e) {
      throw fromDenoError("give the writable layer to the container's root:", d, e);
    }
  }
  return true;
}

/** Resolves `-e` entries: K=V as is, a bare K takes the host's value (or is dropped). */
export function resolveEnv(entries: readonly string[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (e.startsWith("=") || e === "") throw usageError(`environment variable "${e}" has no name`);
    if (e.includes("=")) out.push(e);
    else {
      const value = Deno.env.get(e);
      if (value !== undefined) out.push(`${e}=${value}`);
    }
  }
  return out;
}

function generatedHostname(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What `build` asks of `run` for a RUN step (never set from the command line). */
export interface RunHooks {
  /** Called with the image root once it is prepared (before the container starts). */
  onImageRoot?: (root: { upperdir: string; dir: string }) => void;
  /** Leaves a foreground container's image root for the caller (who removes it). */
  keepImageRoot?: boolean;
}

/** docker's `create`: run's flags and preparation, then the state alone (see {@link main}). */
export function create(argv: string[]): Promise<number> {
  return main(argv, {}, "create");
}

/** The `run` command (and `create`, which stops where run -d would start the container). */
export async function main(
  argv: string[],
  hooks: RunHooks = {},
  verb: "run" | "create" = "run",
): Promise<number> {
  const creating = verb === "create";
  const { flags, rest } = parseArgs(argv, creating ? CREATE_FLAGS : FLAGS);
  if (flags.debug) debugLine(`run's modules loaded from ${Deno.mainModule}, flags parsed`);
  if (flags.help) {
    print(creating ? createHelp() : help());
    return 0;
  }
  if (rest.length === 0) {
    throw usageError(`${verb} needs a command or an image; see 'minicontainer ${verb} --help'`);
  }
  // A created container is a detached one that has not started yet.
  if (creating) flags.detach = true;
  // A name in use fails before anything is made (the store's create still decides, under its lock).
  if (flags.name !== undefined) {
    checkName(flags.name as string);
    const owner = new StateStore(globalOptions.stateRoot).nameOwner(flags.name as string);
    if (owner) throw nameInUse(flags.name as string, owner);
  }
  const hostname = (flags.hostname as string | undefined) ?? generatedHostname();
  checkHostname(hostname);
  const workdir = flags.workdir as string | undefined;
  if (workdir !== undefined && !workdir.startsWith("/")) {
    throw usageError(`--workdir "${workdir}" must be an absolute path`);
  }
  if (flags.rootfs === "") throw usageError("--rootfs needs a directory, not an empty string");
  // docker checks stdin only when it will read it: not with -d.
  const { tty, interactive } = flags.detach
    ? { tty: flags.tty === true, interactive: flags.interactive === true }
    : terminalFlags(flags);
  const envFiles = flags["env-file"] as string[] | undefined;
  let env = resolveEnv([
    ...(envFiles ? (await import("./env_file.ts")).readEnvFiles(envFiles) : []),
    ...((flags.env as string[] | undefined) ?? []),
  ]);
  const stopTimeout = flags["stop-timeout"] as string | undefined;
  if (stopTimeout !== undefined && !/^\d+$/.test(stopTimeout)) {
    throw usageError(`--stop-timeout must be a whole number of seconds, not "${stopTimeout}"`);
  }
  const stopSignal = flags["stop-signal"] as string | undefined;
  // Checked now, not at stop: the parser loads only when the flag is given.
  if (stopSignal !== undefined) (await import("../container/lifecycle.ts")).parseSignal(stopSignal);
  const volumeFlags = (flags.volume as string[] | undefined) ?? [];
  const mountFlags = (flags.mount as string[] | undefined) ?? [];
  // The volume store loads only when a volume is named.
  const volume = volumeFlags.some(namesVolume) ||
      mountFlags.some((m) => !/(^|,)type=(bind|tmpfs)(,|$)/.test(m))
    ? (await import("../volumes/volumes.ts")).createVolume
    : undefined;
  let mounts = byDepth([
    ...volumeFlags.map((v) => parseVolume(v, volume)),
    ...mountFlags.map((v) => parseMount(v, volume)),
    ...((flags.tmpfs as string[] | undefined) ?? []).map(parseTmpfs),
  ]);
  // Without root, the container gets a user namespace mapping the caller to root.
  const rootless = Deno.uid() !== 0;
  const usernsFlag = flags.userns as string | undefined;
  const userns = rootless || usernsFlag !== undefined
    ? chooseMappings(usernsFlag, Deno.uid() ?? -1, Deno.gid() ?? -1)
    : undefined;

  // `run IMAGE [CMD...]` when the first word names a local image (and no --rootfs).
  let args = rest;
  let cwd = workdir;
  let image: Awaited<ReturnType<typeof imageMode>>;
  if (flags.rootfs === undefined) {
    const pullPolicy = (flags.pull as string | undefined) ?? "missing";
    if (!["missing", "always", "never"].includes(pullPolicy)) {
      throw usageError(`--pull must be missing, always or never, not "${pullPolicy}"`);
    }
    // NAME:TAG, NAME@DIGEST or REGISTRY/NAME is an image reference, not a command.
    const isRef = /^[a-z0-9][^/]*(\/[^/]+)*[:@][^/]+$/.test(rest[0]) ||
      /^([a-z0-9-]+\.[a-z0-9.-]+|localhost|[^/]+:\d+)\/[a-z0-9]/.test(rest[0]);
    const imageFlags = {
      entrypoint: flags.entrypoint as string | undefined,
      env,
      workdir,
      user: flags.user as string | undefined,
    };
    if (pullPolicy === "always" && isRef) await pullImage(rest[0], false);
    image = await imageMode(rest, imageFlags, flags.detach === true || flags.rm !== true);
    if (!image && isRef) {
      if (pullPolicy === "never") {
        throw new ContainerError("run", rest[0], undefined, "no such image here (--pull never)");
      }
      await pullImage(rest[0], true);
      image = await imageMode(rest, imageFlags, flags.detach === true || flags.rm !== true);
    }
    if (image) {
      ({ args, env, cwd } = image.process);
      hooks.onImageRoot?.(image.root);
    }
  } else if (flags.entrypoint !== undefined) {
    throw usageError("--entrypoint applies to images, not to --rootfs");
  }

  let rootfs = image?.root.rootfs ?? flags.rootfs as string | undefined;
  let overlay: RootOverlay | undefined = image?.overlay;
  let userRoot = image?.userRoot;
  const id = image?.id ?? newId();
  // The container's own directory (its writable layer), removed with it.
  let ownDir = image?.root.dir;
  // Set once the directory is the stored container's (rm removes it).
  let handedOver = false;
  let hold = ownDir ? holdContainerDir(ownDir) : undefined;
  // The container's network directory (its /etc files), once made.
  let netDir: string | undefined;
  // Set once runContainer has the network: it takes it down on every path.
  let netReleased = false;
  // The removal of the container's directory, once started.
  let ownDirGone: Promise<void> | undefined;
  const dropOwnDir = () => (ownDirGone ??= removeContainerDirAsync(ownDir!));
  try {
    if (rootfs === undefined) {
      const base = defaultRootfsPath();
      if (!isRootfsReady(base)) {
        await ensureDefaultRootfs((line) => console.error(`minicontainer: ${line}`));
      }
      // Shared by every container: an overlay keeps it pristine, the upper
      // layer on disk in the container's own directory.
      // Kept (run without --rm, or -d): its state folder holds it once this process is gone.
      const layer = makeWritableLayer(
        id,
        flags.detach || !flags.rm ? stateDirOf(id) : undefined,
      );
      ownDir = layer.dir;
      hold = holdContainerDir(ownDir);
      rootfs = layer.root;
      userRoot = base;
      if (overlaySupported()) overlay = { lower: [base], upper: layer.upper, work: layer.work };
      else {
        console.error(
          "minicontainer: overlayfs is not available here; copying the default rootfs instead",
        );
        copyLayers([base], layer.root);
      }
    } else if (!rootfs.startsWith("/")) rootfs = `${Deno.cwd()}/${rootfs}`;
    if (overlay && overlayVolatileSupported()) overlay = { ...overlay, volatile: true };
    if (overlay && userns) {
      const given = giveLayerTo([ownDir!, overlay.upper, overlay.work], {
        uid: userns.uidMappings,
        gid: userns.gidMappings,
      });
      // The rootfs's /tmp then belongs to a host id the namespace does not
      // map: the kernel refuses to copy it up (EOVERFLOW). A bounded tmpfs.
      if (given && !mounts.some((m) => m.destination === "/tmp")) {
        mounts = byDepth([boundedTmp(), ...mounts]);
      }
    }
    return await runSpec();
  } finally {
    // A foreground container's directory goes with it (unless build keeps it); a detached one's at rm.
    if (ownDir && !handedOver && !(image && hooks.keepImageRoot)) await dropOwnDir();
    hold?.close();
    // Never attached (a failure before the start): nothing but files. Once attached,
    // runContainer takes the network down and keeps what a failed DEL leaves for reclaim.
    if (netDir && !handedOver && !netReleased) removeUnattachedNetDir(netDir);
    if (flags.debug) debugLine("container's files removed");
  }

  async function runSpec(): Promise<number> {
    const net = await networkFromFlags(flags, {
      id,
      hostname,
      name: flags.name as string | undefined,
      // A kept container's /etc files stay with it (start runs it again): as -d's.
      detached: flags.detach === true || flags.rm !== true,
      rootless,
      stateRoot: globalOptions.stateRoot,
      dataDir: dataDir(),
      roots: overlay ? overlay.lower : [rootfs!],
      userns: userns !== undefined,
      exposed: image?.root.config.ExposedPorts ?? undefined,
    });
    netDir = net.setup.dir;
    const spec = defaultSpec({
      rootfs: rootfs!,
      args,
      hostname,
      env,
      cwd,
      hostNetwork: net.hostNetwork,
      tty: tty || Deno.stdin.isTerminal(),
      // A volume onto /etc/hosts (or the others) wins over the runtime's file.
      mounts: [
        ...net.mounts.filter((m) => !mounts.some((v) => v.destination === m.destination)),
        ...mounts,
      ],
      userns,
    });
    if (net.joinPath) {
      spec.linux.namespaces = spec.linux.namespaces.map((n) =>
        n.type === "network" ? { type: "network", path: net.joinPath } : n
      );
    }
    spec.process.terminal = tty;
    const shm = flags["shm-size"] as string | undefined;
    if (shm !== undefined) {
      const bytes = parseBytes("shm-size", shm);
      for (const mnt of spec.mounts) {
        if (mnt.destination !== "/dev/shm") continue;
        mnt.options = [
          ...(mnt.options ?? []).filter((o) => !o.startsWith("size=")),
          `size=${bytes}`,
        ];
      }
    }
    const sysctls = flags.sysctl as string[] | undefined;
    if (sysctls) {
      const { checkSysctl } = await import("../mounts/sysctl.ts");
      spec.linux.sysctl = {};
      for (const kv of sysctls) {
        const eq = kv.indexOf("=");
        if (eq <= 0) throw usageError(`--sysctl "${kv}" is not K=V`);
        // Another's network namespace (host, container:) is not the container's to change.
        const shared = net.hostNetwork || net.joinPath !== undefined;
        spec.linux.sysctl[checkSysctl(kv.slice(0, eq), kv.slice(eq + 1), shared)] = kv.slice(
          eq + 1,
        );
      }
    }
    const cidfile = flags.cidfile as string | undefined;
    if (cidfile !== undefined) {
      try {
        // docker's rule: an existing file is an error, never overwritten.
        Deno.writeTextFileSync(cidfile, id, { createNew: true });
      } catch (e) {
        throw fromDenoError("write cidfile", cidfile, e);
      }
    }
    // Where /etc/passwd is on the host, for exec -u later (an overlay root is not).
    if (userRoot) spec.annotations = { ...spec.annotations, [PASSWD_ROOT]: userRoot };
    spec.annotations = {
      ...spec.annotations,
      [IMAGE_ANNOTATION]: image ? rest[0] : (flags.rootfs as string | undefined) ?? "default",
      ...labelAnnotations((flags.label as string[] | undefined) ?? []),
      ...(stopTimeout === undefined ? {} : { [STOP_TIMEOUT_ANNOTATION]: stopTimeout }),
    };
    applySecurityFlags(
      spec,
      { ...flags, user: image?.process.user ?? flags.user },
      userRoot,
    );
    const limits = resourcesFromFlags({
      memory: flags.memory as string | undefined,
      memorySwap: flags["memory-swap"] as string | undefined,
      memoryReservation: flags["memory-reservation"] as string | undefined,
      cpus: flags.cpus as string | undefined,
      cpuShares: flags["cpu-shares"] as string | undefined,
      cpusetCpus: flags["cpuset-cpus"] as string | undefined,
      cpusetMems: flags["cpuset-mems"] as string | undefined,
      pidsLimit: flags["pids-limit"] as string | undefined,
      blkioWeight: flags["blkio-weight"] as string | undefined,
      ulimits: flags.ulimit as string[] | undefined,
    });
    spec.linux.resources = { ...limits.resources, ...spec.linux.resources };
    if (limits.rlimits.length) spec.process.rlimits = limits.rlimits;
    if (flags["cgroup-parent"] !== undefined) {
      spec.linux.cgroupsPath = flags["cgroup-parent"] as string;
    }
    // --restart and --log-opt: their parser loads only when one is given.
    const monitorFlags = flags.restart !== undefined || flags["log-opt"] !== undefined
      ? await import("./detach_flags.ts")
      : undefined;
    const log = monitorFlags?.parseLogOpts((flags["log-opt"] as string[] | undefined) ?? []) ??
      DEFAULT_LOG;
    const restart = monitorFlags?.parseRestart(flags.restart as string | undefined);
    if (restart && restart.name !== "no" && flags.rm) {
      throw usageError("--restart and --rm conflict: a restarted container is not removed");
    }
    // Kept (not --rm) or detached: the log lives in the container's own directory (on disk, not /run).
    if ((flags.detach || !flags.rm) && !ownDir) {
      ownDir = makeContainerDir(id, stateDirOf(id));
      hold = holdContainerDir(ownDir);
    }
    if (flags.detach && ownDir) {
      const { createDetached, runDetached } = await import("../container/detached_run.ts");
      await (creating ? createDetached : runDetached)(spec, {
        id,
        stateRoot: globalOptions.stateRoot,
        name: flags.name as string | undefined,
        autoRemove: flags.rm === true,
        init: flags.init === true,
        tty,
        interactive,
        command: rest,
        overlay,
        containerDir: ownDir,
        removeOnDelete: [ownDir],
        stopSignal: stopSignal ?? image?.process.stopSignal,
        net: { setup: net.setup, attach: net.attach },
        restart,
        log,
      });
      handedOver = true;
      print(id);
      return 0;
    }
    // docker's model: a foreground container has state too, from now until
    // rm (--rm: until it exits), listed and exec-able while it runs.
    const store = new StateStore(globalOptions.stateRoot);
    const name = (flags.name as string | undefined) ?? generatedName();
    checkName(name);
    if (flags.debug) debugLine("spec ready");
    // A kept container keeps its log too (docker's), in its directory made above.
    const keep = flags.rm !== true;
    let state: ContainerState = {
      id,
      name,
      status: "created",
      created: new Date().toISOString(),
      command: rest,
      spec,
      init: flags.init === true,
      tty,
      autoRemove: !keep,
      overlay,
      removeOnDelete: ownDir ? [ownDir] : undefined,
      stopSignal: stopSignal ?? image?.process.stopSignal,
      // What start needs to run it again under a monitor.
      ...(keep
        ? {
          logPath: `${ownDir}/container.log`,
          log,
          restart,
          net: { setup: net.setup, attach: net.attach },
        }
        : {}),
    };
    await store.create(state);
    let code: number;
    let oomKilled = false;
    // A kept container's /etc files are its own once it has started; a start
    // that fails takes them with it (runContainer releases the network).
    const keepNet = net.setup.keep;
    net.setup.keep = false;
    // A kept container's output passes through the log copier (mcmonitor --tee).
    let tee: Awaited<ReturnType<typeof import("../container/monitor.ts").startLogTee>> | undefined;
    try {
      netReleased = true;
      if (keep) {
        const { startLogTee } = await import("../container/monitor.ts");
        tee = await startLogTee(state.logPath!, log.maxSize, log.maxFiles);
      }
      code = await runContainer(spec, {
        output: tee?.output,
        id,
        net: { setup: net.setup, attach: net.attach },
        init: flags.init === true,
        debug: flags.debug === true,
        interactive,
        overlay,
        stateRoot: globalOptions.stateRoot,
        onCgroup: (paths) => (state = { ...state, cgroupPaths: [...paths] }),
        onOom: () => (oomKilled = true),
        hooks: {
          // With --rm the writable layer goes as soon as the container is
          // gone, beside the cgroup's removal (see runContainer).
          cleanup() {
            if (!keep && ownDir && !(image && hooks.keepImageRoot)) dropOwnDir();
          },
          started(pid) {
            net.setup.keep = keepNet;
            // The one write on the way in: what ps, exec and stop need.
            state = {
              ...state,
              status: "running",
              pid,
              pidStart: processStartTime(pid),
              supervisorPid: Deno.pid,
              supervisorStart: ownStartTime(),
              started: new Date().toISOString(),
            };
            store.write(state);
          },
        },
      });
    } catch (e) {
      store.removeFiles(id, name);
      throw e;
    } finally {
      await tee?.done();
    }
    if (!keep) {
      store.removeFiles(id, name);
      return code;
    }
    try {
      store.write({
        ...state,
        status: "exited",
        exitCode: code,
        oomKilled,
        finished: new Date().toISOString(),
        pid: undefined,
        cgroupPaths: undefined,
      });
      handedOver = true; // rm removes the writable layer with the state
    } catch (e) {
      store.removeFiles(id, name);
      throw e;
    }
    return code;
  }
}

/**
 * Where a detached container's state folder goes (absolute): it holds the
 * container's directory once this process is gone (see makeOwnedDir).
 */
function stateDirOf(id: string): string {
  const root = globalOptions.stateRoot;
  return new StateStore(root.startsWith("/") ? root : `${Deno.cwd()}/${root}`).dir(id);
}

/** Pulls `ref` for `run` (docker's --pull missing): progress on stderr, as `pull` shows it. */
async function pullImage(ref: string, missing: boolean): Promise<void> {
  const [{ pull }, { ImageStore }, { progressReporter }] = await Promise.all([
    import("../image/pull.ts"),
    import("../image/store.ts"),
    import("../image/progress.ts"),
  ]);
  if (missing) console.error(`Unable to find image '${ref}' locally`);
  await pull(new ImageStore(`${dataDir()}/images`), ref, { progress: progressReporter(false) });
}

/** The image `run`'s first word names, prepared as a container root; undefined when none does. */
async function imageMode(
  rest: string[],
  flags: { entrypoint?: string; env: string[]; workdir?: string; user?: string },
  detach: boolean,
) {
  // A path is never an image name: no store lookup on that common path.
  if (/^[/.]/.test(rest[0])) return undefined;
  const storeRoot = `${dataDir()}/images`;
  try {
    Deno.lstatSync(`${storeRoot}/index.json`);
  } catch {
    return undefined; // no images: the run path reads nothing more
  }
  const { checkImageConfig, findLocalImage, mergeImageConfig, prepareImageRoot, removeImageRoot } =
    await import(
      "../image/run_image.ts"
    );
  const found = findLocalImage(storeRoot, rest[0]);
  if (!found) return undefined;
  checkImageConfig(found.ref, found.config);
  const process = mergeImageConfig(found.config, { ...flags, cmd: rest.slice(1) });
  const id = newId();
  const root = prepareImageRoot(storeRoot, found, id, {
    stateDir: detach ? stateDirOf(id) : undefined,
  });
  const { copyLayers } = await import("../image/copy_root.ts");
  const copied = !overlaySupported();
  if (copied) {
    console.error(
      "minicontainer: overlayfs is not available here; copying the image's layers instead (slower, uses disk)",
    );
    try {
      copyLayers(root.lowerdirs, root.rootfs);
    } catch (e) {
      removeImageRoot(root.dir);
      throw e;
    }
  }
  // /etc/passwd and /etc/group for -u/USER come from the top-most layer that has them.
  const userRoot = root.lowerdirs.find((l) => {
    try {
      return Deno.lstatSync(`${l}/etc/passwd`).isFile;
    } catch {
      return false;
    }
  });
  return {
    id,
    root,
    process,
    userRoot,
    overlay: copied
      ? undefined
      : { lower: root.lowerdirs, upper: root.upperdir, work: root.workdir },
  };
}
