/**
 * `minicontainer run [OPTIONS] [--] CMD [ARGS...]`: flags to a spec, then
 * the container runs in the foreground and its exit status becomes ours.
 * @module
 */

import { print } from "./output.ts";
import { defaultSpec } from "../container/default_spec.ts";
import { runContainer } from "../container/run.ts";
import { ContainerError, usageError } from "../errors.ts";
import {
  dataDir,
  defaultRootfsPath,
  defaultScratchDir,
  ensureDefaultRootfs,
  isRootfsReady,
} from "../rootfs/default.ts";
import { chooseMappings } from "../userns/mappings.ts";
import { overlaySupported } from "../image/copy_root.ts";
import type { RootOverlay } from "../mounts/plan.ts";
import type { Mount } from "../spec.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { TERMINAL_FLAGS, terminalFlags } from "./terminal_flags.ts";
import { globalOptions } from "./global.ts";
import { newId } from "../state/store.ts";
import { resourcesFromFlags } from "./resource_flags.ts";
import { applySecurityFlags, SECURITY_FLAGS } from "./security_flags.ts";

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
    meta: "HOST:CTR[:ro]",
    help: "Bind mount a host path",
  },
  {
    name: "network",
    value: true,
    meta: "none|host",
    help: "none: a new namespace with only lo (default); host: the host's",
  },
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
  { name: "detach", short: "d", help: "Run in the background; print the container id" },
  {
    name: "name",
    value: true,
    meta: "NAME",
    help: "Name of a detached container (default: generated)",
  },
  { name: "rm", help: "Remove a detached container when it exits (foreground ones always are)" },
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

const HELP = `Usage: minicontainer run [OPTIONS] [--] IMAGE|CMD [ARG...]

Run a command in new PID, mount, UTS, IPC, network and cgroup namespaces,
inside a root filesystem of its own: an image's (a local one named by the
first word, on an overlayfs of its layers), --rootfs DIR, or the default
busybox rootfs. The exit status is CMD's own; 125 means the
runtime failed, 126 CMD cannot be executed, 127 CMD was not found.

Options:
${flagHelp(FLAGS)}`;

/** Annotation naming the host directory whose /etc holds the container's users. */
export const PASSWD_ROOT = "org.minicontainer.passwd-root";

/** A hostname the kernel takes: at most 64 bytes (HOST_NAME_MAX). */
export function checkHostname(name: string): void {
  if (new TextEncoder().encode(name).length > 64) {
    throw usageError(`hostname "${name}" is longer than 64 bytes`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(name)) {
    throw usageError(`hostname "${name}" may hold only letters, digits, "." and "-"`);
  }
}

/** Parses `-v HOST:CONTAINER[:ro|rw]` into a bind mount. */
export function parseVolume(text: string): Mount {
  const parts = text.split(":");
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    throw usageError(`volume "${text}" is not HOST:CONTAINER[:ro|rw]`);
  }
  const [host, target, mode = "rw"] = parts;
  if (mode !== "ro" && mode !== "rw") throw usageError(`volume "${text}": mode must be ro or rw`);
  if (!target.startsWith("/")) {
    throw usageError(`volume "${text}": container path must be absolute`);
  }
  if (!host.startsWith("/") && !host.startsWith(".")) {
    throw usageError(
      `volume "${text}": host path must be absolute or start with ./ (named volumes are not supported)`,
    );
  }
  const source = host.startsWith("/") ? host : `${Deno.cwd()}/${host}`;
  try {
    Deno.statSync(source);
  } catch {
    throw new ContainerError("volume", source, 2);
  }
  return {
    destination: target,
    type: "bind",
    source,
    options: ["rbind", mode === "ro" ? "ro" : "rw"],
  };
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

/** The `run` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(HELP);
    return 0;
  }
  if (rest.length === 0) {
    throw usageError("run needs a command or an image; see 'minicontainer run --help'");
  }
  const network = (flags.network as string | undefined) ?? "none";
  if (network !== "none" && network !== "host") {
    throw usageError(`--network must be none or host, not "${network}"`);
  }
  const hostname = (flags.hostname as string | undefined) ?? generatedHostname();
  checkHostname(hostname);
  const workdir = flags.workdir as string | undefined;
  if (workdir !== undefined && !workdir.startsWith("/")) {
    throw usageError(`--workdir "${workdir}" must be an absolute path`);
  }
  if (flags.rootfs === "") throw usageError("--rootfs needs a directory, not an empty string");
  const { tty, interactive } = terminalFlags(flags);
  let env = resolveEnv((flags.env as string[] | undefined) ?? []);
  const mounts = ((flags.volume as string[] | undefined) ?? []).map(parseVolume);
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
    image = await imageMode(rest, {
      entrypoint: flags.entrypoint as string | undefined,
      env,
      workdir,
      user: flags.user as string | undefined,
    });
    if (image) ({ args, env, cwd } = image.process);
    else if (/^[a-z0-9][^/]*(\/[^/]+)*[:@][^/]+$/.test(rest[0]) && !rest[0].startsWith(".")) {
      // NAME:TAG or NAME@DIGEST is an image reference, not a command.
      throw new ContainerError(
        "run",
        rest[0],
        undefined,
        "no such image here; pull or import it first",
      );
    }
  } else if (flags.entrypoint !== undefined) {
    throw usageError("--entrypoint applies to images, not to --rootfs");
  }

  let rootfs = image?.root.rootfs ?? flags.rootfs as string | undefined;
  let overlay: RootOverlay | undefined = image?.overlay;
  let userRoot = image?.userRoot;
  if (rootfs === undefined) {
    const base = defaultRootfsPath();
    if (!isRootfsReady(base)) {
      await ensureDefaultRootfs((line) => console.error(`minicontainer: ${line}`));
    }
    // Shared by every container: an overlay keeps it pristine, its upper
    // layer a tmpfs of the container's own, so nothing written stays.
    // Without overlayfs the rootfs is used as it is (writes reach it).
    if (overlaySupported()) {
      const scratch = defaultScratchDir();
      overlay = { lower: [base], upper: `${scratch}/upper`, work: `${scratch}/work`, scratch };
      rootfs = `${scratch}/root`;
      userRoot = base;
    } else rootfs = base;
  } else if (!rootfs.startsWith("/")) rootfs = `${Deno.cwd()}/${rootfs}`;

  try {
    return await runSpec();
  } finally {
    // A foreground container's root goes with it; a detached one's at rm.
    if (image && !flags.detach) image.remove();
  }

  async function runSpec(): Promise<number> {
    const spec = defaultSpec({
      rootfs: rootfs!,
      args,
      hostname,
      env,
      cwd,
      hostNetwork: network === "host",
      tty: tty || Deno.stdin.isTerminal(),
      mounts,
      userns,
    });
    spec.process.terminal = tty;
    // Where /etc/passwd is on the host, for exec -u later (an overlay root is not).
    if (userRoot) spec.annotations = { ...spec.annotations, [PASSWD_ROOT]: userRoot };
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
    if (flags.detach) {
      if (tty || interactive) throw usageError("-d cannot be combined with -i or -t yet");
      const { runDetached } = await import("../container/detached_run.ts");
      try {
        const id = await runDetached(spec, {
          id: image?.id,
          stateRoot: globalOptions.stateRoot,
          name: flags.name as string | undefined,
          autoRemove: flags.rm === true,
          init: flags.init === true,
          command: rest,
          overlay,
          removeOnDelete: image ? [image.root.dir] : undefined,
          stopSignal: image?.process.stopSignal,
        });
        print(id);
        return 0;
      } catch (e) {
        image?.remove();
        throw e;
      }
    }
    if (flags.name !== undefined) throw usageError("--name names a detached container: add -d");
    return await runContainer(spec, {
      id: image?.id,
      init: flags.init === true,
      debug: flags.debug === true,
      interactive,
      overlay,
    });
  }
}

/** The image `run`'s first word names, prepared as a container root; undefined when none does. */
async function imageMode(
  rest: string[],
  flags: { entrypoint?: string; env: string[]; workdir?: string; user?: string },
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
  const root = prepareImageRoot(storeRoot, found, id);
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
    remove: () => removeImageRoot(root.dir),
  };
}
