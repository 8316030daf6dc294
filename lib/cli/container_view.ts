/**
 * A container as docker's inspect shows it (Id, State, Config, HostConfig,
 * Mounts, LogPath, ...), built from the stored state and its spec, with the
 * status checked against the kernel and "paused" read from the freezer.
 * `inspect` prints it, `ps --filter/--format` read it.
 * @module
 */

import { isFrozen } from "../cgroups/freeze.ts";
import { withLiveStatus } from "../container/lifecycle.ts";
import { dataDir } from "../rootfs/default.ts";
import type { ContainerState } from "../state/store.ts";
import { IMAGE_ANNOTATION, LABEL_PREFIX, STOP_TIMEOUT_ANNOTATION } from "./annotations.ts";

/** Go's zero time, as docker shows a time that has not come. */
const ZERO_TIME = "0001-01-01T00:00:00Z";

/** The mounts every container gets: not the user's, not in Mounts. */
const DEFAULT_MOUNTS = new Set([
  "/proc",
  "/dev",
  "/dev/pts",
  "/dev/shm",
  "/dev/mqueue",
  "/sys",
  "/sys/fs/cgroup",
]);

/** A named volume's mount says so (Type volume, Name), a bind says bind. */
function volumeOf(source: string | undefined): { Type: string; Name?: string } {
  const m = /^(.*)\/volumes\/([^/]+)\/_data$/.exec(source ?? "");
  return m && m[1] === dataDir()
    ? { Type: "volume", Name: m[2] }
    : { Type: source ? "bind" : "tmpfs" };
}

/** The -l labels of a container. */
export function labelsOf(state: ContainerState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(state.spec?.annotations ?? {})) {
    if (k.startsWith(LABEL_PREFIX)) out[k.slice(LABEL_PREFIX.length)] = v;
  }
  return out;
}

/** Status as docker names it: created, running, paused, exited (unknown: its supervisor is gone). */
export function dockerStatus(state: ContainerState): string {
  const s = withLiveStatus(state);
  if (s.status === "running" && s.pid && isFrozen(s.pid)) return "paused";
  return s.status;
}

/** The container's docker-style inspect object. */
export function containerView(state: ContainerState): Record<string, unknown> {
  const s = withLiveStatus(state);
  const status = dockerStatus(state);
  const spec = s.spec;
  const proc = spec?.process;
  const res = spec?.linux?.resources ?? {};
  const ann = spec?.annotations ?? {};
  // The network's /etc/hosts, /etc/hostname and /etc/resolv.conf are the runtime's, not the user's.
  const netDir = s.net?.setup?.dir;
  const userMounts = (spec?.mounts ?? []).filter((m) =>
    !DEFAULT_MOUNTS.has(m.destination) && (m.type === "bind" || m.type === "tmpfs") &&
    !(netDir && m.source?.startsWith(`${netDir}/`))
  );
  const shm = spec?.mounts?.find((m) => m.destination === "/dev/shm")?.options?.find((o) =>
    o.startsWith("size=")
  );
  const running = s.status === "running";
  return {
    Id: s.id,
    Created: s.created,
    Path: proc?.args?.[0] ?? "",
    Args: proc?.args?.slice(1) ?? [],
    State: {
      Status: status,
      Running: running,
      Paused: status === "paused",
      Pid: running ? s.pid : 0,
      // docker's values before a start or an exit: 0 and Go's zero time.
      ExitCode: s.exitCode ?? 0,
      OOMKilled: s.oomKilled ?? false,
      StartedAt: s.started ?? ZERO_TIME,
      FinishedAt: s.finished ?? ZERO_TIME,
    },
    Image: ann[IMAGE_ANNOTATION] ?? "",
    Name: s.name,
    LogPath: s.logPath ?? null,
    Command: s.command,
    Config: {
      Hostname: spec?.hostname ?? "",
      User: proc ? `${proc.user.uid}:${proc.user.gid}` : "",
      Tty: proc?.terminal ?? false,
      Env: proc?.env ?? [],
      Cmd: s.command,
      Image: ann[IMAGE_ANNOTATION] ?? "",
      WorkingDir: proc?.cwd ?? "/",
      Labels: labelsOf(s),
      StopSignal: s.stopSignal ?? "SIGTERM",
      StopTimeout: Number(ann[STOP_TIMEOUT_ANNOTATION] ?? 10),
    },
    HostConfig: {
      AutoRemove: s.autoRemove ?? false,
      Init: s.init ?? false,
      ReadonlyRootfs: spec?.root?.readonly ?? false,
      Memory: res.memory?.limit ?? 0,
      MemoryReservation: res.memory?.reservation ?? 0,
      MemorySwap: res.memory?.swap ?? 0,
      NanoCpus: res.cpu?.quota && res.cpu.period
        ? Math.round(res.cpu.quota / res.cpu.period * 1e9)
        : 0,
      CpuShares: res.cpu?.shares ?? 0,
      CpusetCpus: res.cpu?.cpus ?? "",
      CpusetMems: res.cpu?.mems ?? "",
      PidsLimit: res.pids?.limit ?? null,
      BlkioWeight: res.blockIO?.weight ?? 0,
      CgroupParent: spec?.linux?.cgroupsPath ?? "",
      ShmSize: shm ? Number(shm.slice(5).replace(/k$/, "")) * (shm.endsWith("k") ? 1024 : 1) : 0,
      Ulimits: (proc?.rlimits ?? []).map((r) => ({
        Name: r.type.replace(/^RLIMIT_/, "").toLowerCase(),
        Soft: r.soft,
        Hard: r.hard,
      })),
      Binds: userMounts.filter((m) => m.type === "bind").map((m) =>
        `${m.source}:${m.destination}${m.options?.includes("ro") ? ":ro" : ""}`
      ),
      Tmpfs: Object.fromEntries(
        userMounts.filter((m) => m.type === "tmpfs").map((m) => [
          m.destination,
          (m.options ?? []).join(","),
        ]),
      ),
    },
    Mounts: userMounts.map((m) => ({
      ...volumeOf(m.source),
      Source: m.type === "tmpfs" ? "" : m.source,
      Destination: m.destination,
      Mode: m.options?.includes("ro") ? "ro" : "",
      RW: !m.options?.includes("ro"),
    })),
    Spec: spec,
  };
}
