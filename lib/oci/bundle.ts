/**
 * An OCI bundle's config.json made into the spec the one executor runs:
 * checked field by field (a wrong type or an unknown value is one sentence
 * naming the field), paths made absolute against the bundle, runc's
 * defaults added (its default device nodes and rules), and every field this
 * runtime cannot honour either refused or warned about by name.
 * @module
 */

import { defaultDeviceRules, defaultDevices } from "../container/default_spec.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { parseMountOptions } from "../mounts/options.ts";
import { unavailableCapabilities } from "../security/capabilities.ts";
import { checkSeccompProfile } from "../security/seccomp_profile.ts";
import type { Mount, Namespace, Process, Spec } from "../spec.ts";

const NAMESPACE_TYPES: readonly Namespace["type"][] = [
  "pid",
  "network",
  "mount",
  "ipc",
  "uts",
  "user",
  "cgroup",
  "time",
];

/** Mount options podman and others pass that are the runtime's to act on, not mount(2)'s. */
export const RUNTIME_MOUNT_OPTIONS: ReadonlySet<string> = new Set([
  "tmpcopyup",
  "notmpcopyup",
  "copy",
  "nocopy",
  "z",
  "Z",
]);

/** Sysctl prefixes that live in a namespace, with the namespace (runc's list). */
const NAMESPACED_SYSCTLS: readonly [RegExp, Namespace["type"]][] = [
  [/^net\./, "network"],
  [/^kernel\.(shm|msg|sem$)/, "ipc"],
  [/^fs\.mqueue\./, "ipc"],
  [/^kernel\.(hostname|domainname)$/, "uts"],
];

function bad(field: string, detail: string): ContainerError {
  return new ContainerError("config.json", undefined, undefined, `${field}: ${detail}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
    throw bad(field, "must be a list of strings");
  }
  return v as string[];
}

function uint(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) {
    throw bad(field, `${JSON.stringify(v)} is not an unsigned 32-bit integer`);
  }
  return v;
}

/** Reads BUNDLE/config.json; throws one sentence for a missing bundle or bad JSON. */
export function readConfig(bundle: string): unknown {
  try {
    if (!Deno.statSync(bundle).isDirectory) {
      throw new ContainerError("bundle", bundle, 20 /* ENOTDIR */);
    }
  } catch (e) {
    throw fromDenoError("bundle", bundle, e);
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(`${bundle}/config.json`);
  } catch (e) {
    throw fromDenoError("read config.json in bundle", bundle, e);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ContainerError(
      "parse config.json in bundle",
      bundle,
      undefined,
      (e as Error).message,
    );
  }
}

/** Where an absolute-or-bundle-relative path points. */
function inBundle(bundle: string, path: string): string {
  return path.startsWith("/") ? path : `${bundle.replace(/\/+$/, "")}/${path}`;
}

/**
 * The spec of bundle `bundle`, ready for the executor. `warn` receives one
 * sentence per field that is accepted but not applied.
 */
export function loadBundle(
  bundle: string,
  warn: (message: string) => void,
  opts: { processOptional?: boolean } = {},
): Spec {
  const raw = readConfig(bundle);
  if (!isObject(raw)) throw bad("config.json", "is not a JSON object");
  if (typeof raw.ociVersion !== "string") throw bad("ociVersion", "missing or not a string");
  if (!/^1\./.test(raw.ociVersion)) {
    throw bad("ociVersion", `${raw.ociVersion} is not a 1.x version of the runtime spec`);
  }
  if (!isObject(raw.root) || typeof raw.root.path !== "string" || raw.root.path === "") {
    throw bad("root.path", "missing or not a string");
  }
  // The spec: process is OPTIONAL at create and REQUIRED at start. Without
  // one the container is set up around an init that never runs anything.
  const noProcess = raw.process === undefined && opts.processOptional;
  if (noProcess) raw.process = { args: [], cwd: "/", user: { uid: 0, gid: 0 }, env: [] };
  if (!isObject(raw.process)) throw bad("process", "missing (this command needs one)");
  const spec = structuredClone(raw) as unknown as Spec;
  const p = spec.process;
  const args = stringList(p.args, "process.args");
  if (!args?.length && !noProcess) throw bad("process.args", "must name a command");
  stringList(p.env, "process.env");
  if (typeof p.cwd !== "string" || !p.cwd.startsWith("/")) {
    throw bad("process.cwd", `${JSON.stringify(p.cwd)} is not an absolute path`);
  }
  if (!isObject(p.user)) p.user = { uid: 0, gid: 0 };
  p.user.uid = uint(p.user.uid, "process.user.uid") ?? 0;
  p.user.gid = uint(p.user.gid, "process.user.gid") ?? 0;
  (p.user.additionalGids ?? []).forEach((g, i) => uint(g, `process.user.additionalGids[${i}]`));
  if (p.user.umask !== undefined) uint(p.user.umask, "process.user.umask");
  for (const r of p.rlimits ?? []) {
    if (!/^RLIMIT_[A-Z]+$/.test(r.type)) throw bad("process.rlimits", `unknown type ${r.type}`);
  }
  // Inside a user namespace of its own or joined, the child has every capability there is.
  const inUserns =
    (isObject(raw.linux) && Array.isArray(raw.linux.namespaces) ? raw.linux.namespaces : [])
      .some((n) => isObject(n) && n.type === "user");
  if (p.capabilities && !inUserns) {
    const missing = unavailableCapabilities(p.capabilities);
    for (const name of missing) {
      warn(
        `process.capabilities: ${name} is left out of every set: this runtime does not hold it ` +
          "(the host withholds it, or the kernel does not know it)",
      );
    }
  }
  const raw_ = raw.process as Record<string, unknown>;
  for (const field of ["apparmorProfile", "selinuxLabel"]) {
    if (raw_[field]) warn(`process.${field} is not applied: this runtime has no LSM support`);
  }
  if (raw_.ioPriority !== undefined) checkIoPriority(raw_.ioPriority);
  if (raw_.scheduler) warn("process.scheduler is not applied");

  spec.root = {
    path: inBundle(bundle, spec.root.path),
    readonly: spec.root.readonly ?? false,
  };
  if (!isObject(spec.linux)) spec.linux = { namespaces: [] };
  const cgroupns = (spec.linux.namespaces ?? []).some((n) => n.type === "cgroup");
  spec.mounts = (spec.mounts ?? []).flatMap((m, i) => mountOf(m, i, bundle, cgroupns, warn));
  const l = spec.linux;
  l.namespaces = l.namespaces ?? [];
  const seen = new Set<string>();
  for (const ns of l.namespaces) {
    if (!NAMESPACE_TYPES.includes(ns.type)) {
      throw bad("linux.namespaces", `unknown namespace type ${JSON.stringify(ns.type)}`);
    }
    if (seen.has(ns.type)) throw bad("linux.namespaces", `${ns.type} is listed twice`);
    seen.add(ns.type);
    if (ns.path) {
      try {
        Deno.statSync(ns.path);
      } catch (e) {
        throw fromDenoError(`linux.namespaces: ${ns.type} namespace`, ns.path, e);
      }
    }
  }
  checkJoinedUserNamespace(l, warn);
  if (!l.namespaces.some((n) => n.type === "mount")) {
    // The container shares the host's mount table: it gets root.path as
    // its root (chroot) and nothing mounted, which would be the host's.
    const left = [
      spec.mounts.length ? "mounts" : "",
      spec.root.readonly ? "root.readonly" : "",
      l.maskedPaths?.length ? "linux.maskedPaths" : "",
      l.readonlyPaths?.length ? "linux.readonlyPaths" : "",
      l.devices?.length ? "linux.devices" : "",
      l.rootfsPropagation ? "linux.rootfsPropagation" : "",
    ].filter((f) => f);
    if (left.length) {
      warn(
        `${left.join(", ")} not applied: without a mount namespace of its own the ` +
          "container shares the host's mounts",
      );
    }
  }
  for (const key of Object.keys(l.sysctl ?? {})) {
    const ns = NAMESPACED_SYSCTLS.find(([re]) => re.test(key))?.[1];
    if (!ns) throw bad("linux.sysctl", `${key} is not namespaced: it would change the host`);
    if (!l.namespaces.some((n) => n.type === ns)) {
      throw bad("linux.sysctl", `${key} needs the container's own ${ns} namespace`);
    }
  }
  if (l.seccomp) {
    const raw = l.seccomp as unknown as Record<string, unknown>;
    if (raw.listenerPath) throw bad("linux.seccomp.listenerPath", "is not supported");
    l.seccomp = checkSeccompProfile(raw, "config.json linux.seccomp");
  }
  // runc makes its default nodes and allows them whatever the config says.
  const listed = new Set((l.devices ?? []).map((d) => d.path));
  l.devices = [...(l.devices ?? []), ...defaultDevices().filter((d) => !listed.has(d.path))];
  l.resources = l.resources ?? {};
  for (const field of unappliedResources(l.resources as unknown as Record<string, unknown>)) {
    warn(`linux.resources.${field} is not applied by this runtime`);
  }
  l.resources.devices = [...(l.resources.devices ?? []), ...defaultDeviceRules().slice(1)];
  const rawLinux = raw.linux as Record<string, unknown> | undefined;
  for (const field of ["intelRdt", "mountLabel", "memoryPolicy"]) {
    if (rawLinux?.[field]) warn(`linux.${field} is not applied`);
  }
  if (rawLinux?.personality !== undefined) checkPersonality(rawLinux.personality, warn);
  return spec;
}

/**
 * A user namespace joined by path: the child joins it first and makes its
 * new namespaces with unshare. A new PID or time namespace made that way
 * holds only the child's children, and the child is the container's init,
 * so those two are refused; id maps belong to a new user namespace.
 */
function checkJoinedUserNamespace(l: Spec["linux"], warn: (message: string) => void): void {
  const user = l.namespaces.find((n) => n.type === "user" && n.path);
  if (!user) return;
  for (const type of ["pid", "time"] as const) {
    if (l.namespaces.some((n) => n.type === type && !n.path)) {
      throw bad(
        "linux.namespaces",
        `a new ${type} namespace inside a user namespace joined by path (${user.path}) ` +
          `is not supported by this runtime: join the ${type} namespace by path too, or share the host's`,
      );
    }
  }
  for (const field of ["uidMappings", "gidMappings"] as const) {
    if (l[field]?.length) {
      warn(
        `linux.${field} are not applied: the user namespace ${user.path} is joined, its maps are its own`,
      );
    }
  }
}

function mountOf(
  m: Mount,
  i: number,
  bundle: string,
  cgroupns: boolean,
  warn: (s: string) => void,
): Mount[] {
  const field = `mounts[${i}]`;
  if (!isObject(m) || typeof m.destination !== "string") {
    throw bad(field, "needs a destination");
  }
  const options = (stringList(m.options, `${field}.options`) ?? []).filter((o) => {
    if (!RUNTIME_MOUNT_OPTIONS.has(o)) return true;
    if (o === "tmpcopyup") warn(`${m.destination}: option tmpcopyup is not applied`);
    // The caller's (podman's) to do, this runtime has no SELinux labelling: said, not dropped.
    if (o === "z" || o === "Z") {
      warn(`${m.destination}: option ${o} (SELinux relabelling) is not applied`);
    }
    return false;
  });
  for (const key of ["uidMappings", "gidMappings"] as const) {
    const maps = m[key] as unknown;
    if (maps === undefined || maps === null) continue;
    if (!Array.isArray(maps)) throw bad(`${field}.${key}`, "must be a list");
    maps.forEach((x, k) => {
      const at = `${field}.${key}[${k}]`;
      if (!isObject(x)) throw bad(at, "must be an object");
      uint(x.containerID, `${at}.containerID`);
      uint(x.hostID, `${at}.hostID`);
      if (!uint(x.size, `${at}.size`)) throw bad(`${at}.size`, "must be at least 1");
    });
  }
  const bind = options.includes("bind") || options.includes("rbind");
  if (m.type === "bind" && !bind) options.push("rbind");
  let kept = options;
  if (bind || m.type === "bind") {
    // mount(2) ignores a bind's file-system data, and runc passes it on
    // regardless (runtime-tools' mounts test gives one mode= and size=):
    // said and dropped, where a mount of our own flags refuses it.
    const data = new Set(parseMountOptions(options).data?.split(",") ?? []);
    if (data.size) {
      warn(
        `${m.destination}: file-system options ${[...data].join(", ")} are ignored on a bind mount`,
      );
      kept = options.filter((o) => !data.has(o));
    }
  }
  if (m.type === "cgroup") return cgroupMounts(m, options, cgroupns, warn);
  const source = m.source && (bind || m.type === "bind") ? inBundle(bundle, m.source) : m.source;
  return [{ ...m, source, options: kept }];
}

/** Superblock options of a cgroup v1 mount that are not controllers. */
const NOT_CONTROLLERS = new Set(["rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec"]);

/**
 * A `cgroup` mount as runc makes it: on v2 one cgroup2 mount; on v1 and
 * hybrid hosts a tmpfs with one cgroup mount per host hierarchy (same
 * controllers, so the kernel reuses it; the child is in its cgroup
 * namespace by then, so each shows the container's cgroup as its root)
 * and, on a hybrid host, the cgroup2 one at `unified`.
 */
function cgroupMounts(
  m: Mount,
  options: string[],
  cgroupns: boolean,
  warn: (s: string) => void,
): Mount[] {
  let info: string;
  try {
    info = Deno.readTextFileSync("/proc/self/mountinfo");
  } catch {
    warn(`${m.destination}: cannot read /proc/self/mountinfo; no cgroup mount there`);
    return [];
  }
  const hierarchies: { dir: string; type: string; controllers: string[] }[] = [];
  for (const line of info.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const mountPoint = left.split(" ")[4];
    const [type, , superOptions] = right.split(" ");
    if (!mountPoint?.startsWith("/sys/fs/cgroup")) continue;
    if (type !== "cgroup" && type !== "cgroup2") continue;
    if (mountPoint === "/sys/fs/cgroup") {
      return [{ ...m, type: "cgroup2", source: "cgroup", options }];
    }
    hierarchies.push({
      dir: mountPoint.slice("/sys/fs/cgroup/".length),
      type,
      controllers: superOptions.split(",").filter((o) => !NOT_CONTROLLERS.has(o)),
    });
  }
  // The tmpfs itself stays writable (runc remounts it read-only; this
  // runtime's mount steps have no remount): it holds only mount points.
  const flags = options.filter((o) => !["bind", "rbind"].includes(o));
  const tmpfs = {
    destination: m.destination,
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "nodev", "noexec", "mode=755"],
  };
  if (!cgroupns) {
    // Without a cgroup namespace each hierarchy would show the host's whole
    // tree; runc binds the container's own cgroup there instead, which this
    // runtime does not (yet): an empty tmpfs, said once.
    warn(`${m.destination}: cgroup v1 hierarchies are mounted only with a cgroup namespace`);
    return [tmpfs];
  }
  return [
    tmpfs,
    ...hierarchies.filter((h) => !h.dir.includes("/")).map((h) => ({
      destination: `${m.destination.replace(/\/+$/, "")}/${h.dir}`,
      type: h.type,
      source: "cgroup",
      options: [
        ...flags,
        ...(h.controllers.some((c) => c.startsWith("name=")) ? ["none"] : []),
        ...h.controllers,
      ],
    })),
  ];
}

/** The resource fields the cgroup drivers write (lib/cgroups/v1.ts, v2.ts); the rest are warned about. */
const APPLIED_RESOURCES: Record<string, readonly string[] | true> = {
  memory: ["limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller"],
  cpu: ["shares", "quota", "period", "cpus", "mems"],
  pids: ["limit"],
  blockIO: [
    "weight",
    "leafWeight",
    "weightDevice",
    "throttleReadBpsDevice",
    "throttleWriteBpsDevice",
    "throttleReadIOPSDevice",
    "throttleWriteIOPSDevice",
  ],
  hugepageLimits: true,
  network: true,
  devices: true,
  unified: true,
};

/** Resource fields given (not null or empty) that nothing applies, as dotted names. */
export function unappliedResources(r: Record<string, unknown>): string[] {
  const out: string[] = [];
  const given = (v: unknown) =>
    v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) &&
    !(isObject(v) && Object.keys(v).length === 0);
  for (const [key, value] of Object.entries(r)) {
    if (!given(value)) continue;
    const applied = APPLIED_RESOURCES[key];
    if (applied === true) continue;
    if (applied === undefined || !isObject(value)) {
      out.push(key);
      continue;
    }
    for (const [field, v] of Object.entries(value)) {
      if (given(v) && !applied.includes(field)) out.push(`${key}.${field}`);
    }
  }
  return out;
}

/** An exec's process.json: its rlimits and I/O priority checked as config.json's are. */
export function checkProcessAttributes(p: Record<string, unknown> | Process): void {
  const raw = p as Record<string, unknown>;
  if (raw.rlimits !== undefined && !Array.isArray(raw.rlimits)) {
    throw bad("process.rlimits", "must be a list");
  }
  for (const r of (raw.rlimits ?? []) as { type: unknown }[]) {
    if (!isObject(r) || typeof r.type !== "string" || !/^RLIMIT_[A-Z]+$/.test(r.type)) {
      throw bad("process.rlimits", `unknown type ${JSON.stringify(isObject(r) ? r.type : r)}`);
    }
  }
  if (raw.ioPriority !== undefined) checkIoPriority(raw.ioPriority);
}

/** process.ioPriority: one of ioprio_set(2)'s classes and a level of 0 to 7. */
function checkIoPriority(io: unknown): void {
  if (!isObject(io)) throw bad("process.ioPriority", "must be an object");
  const classes = ["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"];
  if (!classes.includes(io.class as string)) {
    throw bad(
      "process.ioPriority.class",
      `${JSON.stringify(io.class)} is not one of ${classes.join(", ")}`,
    );
  }
  const p = io.priority ?? 0;
  if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 7) {
    throw bad("process.ioPriority.priority", `${JSON.stringify(p)} is not a level from 0 to 7`);
  }
  io.priority = p;
}

/** linux.personality: the spec's two domains; it defines no flag values, so any is said. */
function checkPersonality(persona: unknown, warn: (message: string) => void): void {
  if (!isObject(persona)) throw bad("linux.personality", "must be an object");
  if (persona.domain !== "LINUX" && persona.domain !== "LINUX32") {
    throw bad(
      "linux.personality.domain",
      `${JSON.stringify(persona.domain)} is not LINUX or LINUX32`,
    );
  }
  const flags = persona.flags ?? [];
  if (!Array.isArray(flags)) throw bad("linux.personality.flags", "must be a list");
  if (flags.length) warn(`linux.personality.flags ${flags.join(", ")} are not applied`);
}
