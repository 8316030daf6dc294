/**
 * The spec a container gets when nothing but a rootfs and a command is
 * given: docker's defaults for mounts, devices, namespaces and environment.
 * @module
 */

import {
  type Device,
  type DeviceRule,
  type IdMapping,
  type Mount,
  type Namespace,
  OCI_VERSION,
  type Spec,
} from "../spec.ts";

/** docker's PATH for containers. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The mounts every container gets before any volume: runc's spec defaults
 * (/dev a 64 MiB tmpfs, /dev/shm 64 MiB as docker's --shm-size default).
 * /tmp and /run are no tmpfs, as in docker: they belong to the container's
 * writable layer, on disk.
 */
export function defaultMounts(): Mount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    {
      destination: "/dev/mqueue",
      type: "mqueue",
      source: "mqueue",
      options: ["nosuid", "noexec", "nodev"],
    },
    {
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", "ro"],
    },
  ];
}

/**
 * /tmp where the writable layer cannot hold it: a tmpfs of 64 MiB, like
 * /dev/shm (its pages are charged to the container's memory cgroup too).
 */
export function boundedTmp(): Mount {
  return {
    destination: "/tmp",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "nodev", "mode=1777", "size=65536k"],
  };
}

/**
 * What stays writable under --read-only: /tmp and /run as tmpfs (podman's
 * --read-only-tmpfs; docker leaves them read-only), each bounded like
 * /dev/shm so that a container cannot pin the host's memory through them.
 * A mount the user gave for the same path wins.
 */
export function readOnlyTmpfsMounts(): Mount[] {
  return [
    boundedTmp(),
    {
      destination: "/run",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "mode=755", "size=65536k"],
    },
  ];
}

/** The device nodes every container gets. */
export function defaultDevices(): Device[] {
  const c = (path: string, major: number, minor: number): Device => ({
    type: "c",
    path,
    major,
    minor,
    fileMode: 0o666,
    uid: 0,
    gid: 0,
  });
  return [
    c("/dev/null", 1, 3),
    c("/dev/zero", 1, 5),
    c("/dev/full", 1, 7),
    c("/dev/random", 1, 8),
    c("/dev/urandom", 1, 9),
    c("/dev/tty", 5, 0),
  ];
}

/**
 * The devices a container may use: nothing, then runc's AllowedDevices
 * (libcontainer/specconv, runc commit 76d9cf5d, after v1.5.0-rc.1) exactly: mknod of any node (creating
 * one grants no access to it), the nodes it is given, its ptys (136:*),
 * /dev/ptmx (5:2) and /dev/net/tun (10:200). Not the host's console (5:1):
 * a container's /dev/console is a bind mount of its own pty.
 */
export function defaultDeviceRules(): DeviceRule[] {
  const c = (major: number, minor?: number): DeviceRule => ({
    allow: true,
    type: "c",
    major,
    ...(minor === undefined ? {} : { minor }),
    access: "rwm",
  });
  return [
    { allow: false, access: "rwm" },
    { allow: true, type: "c", access: "m" },
    { allow: true, type: "b", access: "m" },
    c(1, 3),
    c(1, 8),
    c(1, 7),
    c(5, 0),
    c(1, 5),
    c(1, 9),
    c(136),
    c(5, 2),
    c(10, 200),
  ];
}

/** What {@link defaultSpec} needs. */
export interface DefaultSpecInput {
  rootfs: string;
  args: string[];
  hostname: string;
  /** K=V pairs overriding the defaults, in order; later wins. */
  env?: string[];
  cwd?: string;
  /** Share the host's network namespace instead of a new one with only lo. */
  hostNetwork?: boolean;
  /** stdin is a terminal: TERM gets a default. */
  tty?: boolean;
  /** Extra mounts after the defaults (volumes). */
  mounts?: Mount[];
  /** A new user namespace with these mappings (--userns, rootless). */
  userns?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
}

function mapsGid(maps: readonly IdMapping[], gid: number): boolean {
  return maps.some((m) => gid >= m.containerID && gid < m.containerID + m.size);
}

/**
 * The default mounts adjusted for a user namespace: sysfs cannot be mounted
 * without a network namespace of our own (bind the host's, read-only), and
 * devpts refuses a gid the namespace does not map.
 */
function usernsMounts(
  mounts: Mount[],
  gidMaps: readonly IdMapping[],
  hostNetwork: boolean,
): Mount[] {
  return mounts.map((m) => {
    if (m.type === "sysfs" && hostNetwork) {
      return {
        destination: m.destination,
        type: "bind",
        source: "/sys",
        options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
      };
    }
    if (m.type === "devpts" && !mapsGid(gidMaps, 5)) {
      return { ...m, options: m.options?.filter((o) => !o.startsWith("gid=")) };
    }
    return m;
  });
}

/** Merges K=V lists: later keys replace earlier ones in place, never duplicate. */
export function mergeEnv(...lists: readonly string[][]): string[] {
  const byKey = new Map<string, string>();
  for (const list of lists) {
    for (const kv of list) {
      const eq = kv.indexOf("=");
      byKey.set(eq < 0 ? kv : kv.slice(0, eq), kv);
    }
  }
  return [...byKey.values()];
}

/** A complete spec with docker's defaults. */
export function defaultSpec(input: DefaultSpecInput): Spec {
  const namespaces: Namespace[] = [
    { type: "pid" },
    { type: "mount" },
    { type: "uts" },
    { type: "ipc" },
    { type: "cgroup" },
  ];
  if (!input.hostNetwork) namespaces.push({ type: "network" });
  if (input.userns) namespaces.push({ type: "user" });
  const mounts = input.userns
    ? usernsMounts(defaultMounts(), input.userns.gidMappings, input.hostNetwork ?? false)
    : defaultMounts();
  const base = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${input.hostname}`, "HOME=/root"];
  if (input.tty) base.push("TERM=xterm");
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: input.args,
      env: mergeEnv(base, input.env ?? []),
      cwd: input.cwd ?? "/",
    },
    root: { path: input.rootfs },
    hostname: input.hostname,
    mounts: [...mounts, ...(input.mounts ?? [])],
    linux: {
      namespaces,
      devices: defaultDevices(),
      resources: { devices: defaultDeviceRules() },
      ...(input.userns ?? {}),
    },
  };
}
