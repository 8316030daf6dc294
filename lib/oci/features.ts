/**
 * `features` (runtime-spec features.md) and `spec` (runc's default
 * config.json): what this runtime implements, as data.
 * @module
 */

import { defaultMounts, defaultSpec } from "../container/default_spec.ts";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from "../security/capabilities.ts";
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from "../security/paths.ts";
import { KNOWN_MOUNT_OPTIONS } from "../mounts/options.ts";
import { RUNTIME_MOUNT_OPTIONS } from "./bundle.ts";
import { OCI_VERSION, type Spec } from "../spec.ts";

/**
 * The mount options this runtime acts on (lib/mounts/options.ts) and those
 * it accepts for podman (tmpcopyup, with a warning); the rest go to the
 * file system as data, and a bind mount refuses them. idmap and ridmap are told by
 * mountExtensions, as runc does.
 */
const MOUNT_OPTIONS = [...KNOWN_MOUNT_OPTIONS, ...RUNTIME_MOUNT_OPTIONS].sort();

/**
 * Whether this runtime can make idmapped mounts here: it makes them itself,
 * as root, with mount_setattr(2) (Linux 5.12). A file system may still
 * refuse one; that mount then fails naming it.
 */
function idmapEnabled(): boolean {
  if (Deno.uid() !== 0) return false;
  const [major, minor] = Deno.osRelease().split(".").map((n) => parseInt(n, 10));
  return major > 5 || (major === 5 && minor >= 12);
}

/** The features document. */
export function features(): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: [
      "prestart",
      "createRuntime",
      "createContainer",
      "startContainer",
      "poststart",
      "poststop",
    ],
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
      capabilities: ALL_CAPABILITIES,
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: {
        enabled: true,
        actions: [
          "SCMP_ACT_ALLOW",
          "SCMP_ACT_ERRNO",
          "SCMP_ACT_KILL",
          "SCMP_ACT_KILL_PROCESS",
          "SCMP_ACT_KILL_THREAD",
          "SCMP_ACT_LOG",
          "SCMP_ACT_TRACE",
          "SCMP_ACT_TRAP",
        ],
        operators: [
          "SCMP_CMP_EQ",
          "SCMP_CMP_GE",
          "SCMP_CMP_GT",
          "SCMP_CMP_LE",
          "SCMP_CMP_LT",
          "SCMP_CMP_MASKED_EQ",
          "SCMP_CMP_NE",
        ],
        archs: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
        knownFlags: [],
        supportedFlags: [],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: idmapEnabled() } },
    },
    annotations: { "org.opencontainers.runtime-spec.features.implementation": "minicontainer" },
  };
}

/** runc's `spec`: a config.json for a rootfs/ beside it running sh on a terminal. */
export function defaultConfig(): Spec {
  const spec = defaultSpec({
    rootfs: "rootfs",
    args: ["sh"],
    hostname: "minicontainer",
    tty: true,
  });
  const caps = [...DEFAULT_CAPABILITIES];
  spec.process.terminal = true;
  spec.process.env = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM=xterm",
  ];
  spec.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
  spec.process.rlimits = [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 1024 }];
  spec.process.noNewPrivileges = true;
  spec.root = { path: "rootfs", readonly: true };
  spec.mounts = defaultMounts();
  // The bundle gets runc's defaults at create; the file states only what is asked.
  delete spec.linux.devices;
  spec.linux.resources = { devices: [{ allow: false, access: "rwm" }] };
  spec.linux.maskedPaths = [...DEFAULT_MASKED_PATHS];
  spec.linux.readonlyPaths = [...DEFAULT_READONLY_PATHS];
  return spec;
}
