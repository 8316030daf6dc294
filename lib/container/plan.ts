/**
 * From a spec to the child's plan: the ordered system calls the cloned child
 * makes between clone() and execve(). Pure: it reads nothing from the host,
 * so tests assert on it as data.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { CLONE, K } from "../../ffi/syscalls.ts";
import type { MaskedPath } from "../mounts/masks.ts";
import type { PreparedMount } from "../mounts/prepare.ts";
import { rootfsOps, type RootOverlay, workdirOps } from "../mounts/plan.ts";
import { loopbackUpOps } from "../net/loopback.ts";
import { ptyOps, type WindowSize } from "../tty/pty_ops.ts";
import { parentDeathOps } from "../security/process_ops.ts";
import type { Namespace, Spec } from "../spec.ts";
import { execOps } from "./exec.ts";
import { rlimitOps } from "./rlimits.ts";

const NAMESPACE_FLAGS: Record<Namespace["type"], number> = {
  pid: CLONE.NEWPID,
  network: CLONE.NEWNET,
  mount: CLONE.NEWNS,
  ipc: CLONE.NEWIPC,
  uts: CLONE.NEWUTS,
  user: CLONE.NEWUSER,
  cgroup: CLONE.NEWCGROUP,
  time: 0x80,
};

function hasNamespace(spec: Spec, type: Namespace["type"]): boolean {
  return spec.linux.namespaces.some((n) => n.type === type && !n.path);
}

/**
 * The clone(2) flags for the spec's new namespaces. The cgroup namespace is
 * left out: the child enters it after the runtime moved it into its cgroup,
 * so that the namespace is rooted there.
 */
export function cloneFlags(spec: Spec): number {
  let flags = 0;
  for (const ns of spec.linux.namespaces) {
    if (!ns.path && ns.type !== "cgroup") flags |= NAMESPACE_FLAGS[ns.type];
  }
  return flags;
}

/**
 * In a new or joined user namespace, our host ids mean nothing (files we
 * create would fail with EOVERFLOW): become root of the namespace, which its
 * maps define.
 */
export function becomeNamespaceRootOps(): Op[] {
  return [
    {
      call: "setgroups",
      args: [0, null],
      label: "clear supplementary groups",
      // Refused after "deny" in /proc/PID/setgroups (rootless); nothing to clear then.
      tolerate: ["EPERM"],
    },
    { call: "setresgid", args: [0, 0, 0], label: "setresgid 0 in the user namespace" },
    { call: "setresuid", args: [0, 0, 0], label: "setresuid 0 in the user namespace" },
    // Also where a child kept dumpable for an unprivileged runtime's id maps
    // stops being so: the maps are written once it is released.
    ...parentDeathOps("becoming root of the user namespace"),
  ];
}

/**
 * Standard input from the host's /dev/null (docker without -i): the
 * container must not read, or drain, the caller's input. Opened before the
 * child reaches anything of the container, so the node is the host's.
 */
export function nullStdinOps(): Op[] {
  return [
    {
      call: "openat",
      args: [K.AT_FDCWD, "/dev/null", K.O_RDONLY | K.O_CLOEXEC, 0],
      label: "open /dev/null",
    },
    { call: "dup3", args: [{ back: 1 }, 0, 0], label: "stdin from /dev/null" },
    { call: "close", args: [{ back: 2 }], label: "close /dev/null" },
  ];
}

/**
 * A network namespace given by path (`--network container:NAME`) is joined
 * with setns before anything else, while the host's /proc is still in view.
 */
export function joinNetworkOps(spec: Spec): Op[] {
  const ns = spec.linux.namespaces.find((n) => n.type === "network" && n.path);
  if (!ns?.path) return [];
  return [
    {
      call: "openat",
      args: [K.AT_FDCWD, ns.path, K.O_RDONLY | K.O_CLOEXEC, 0],
      label: `open network namespace ${ns.path}`,
    },
    {
      call: "setns",
      args: [{ back: 1 }, CLONE.NEWNET],
      label: `join network namespace ${ns.path}`,
    },
    { call: "close", args: [{ back: 2 }], label: "close network namespace" },
  ];
}

/** What the plan needs besides the spec. */
export interface ChildPlanInput {
  spec: Spec;
  /** spec.mounts, prepared. */
  mounts: readonly PreparedMount[];
  /** spec.linux.maskedPaths, classified on the host (file or directory). */
  masked?: readonly MaskedPath[];
  /** Run a reaping, signal-forwarding PID 1 above the command. */
  init: boolean;
  /** Security steps (user, capabilities, no_new_privs, seccomp), last before exec. */
  securityOps?: readonly Op[];
  /** Files to make the container's stdin, stdout and stderr (a detached container's). */
  stdio?: readonly [number, number, number];
  /** Standard input from /dev/null instead of the runtime's (no -i, no `stdio`). */
  nullStdin?: boolean;
  /** An image's overlayfs root, mounted on spec.root.path. */
  overlay?: RootOverlay;
  /** A pty for the command: its master goes back over `socketFd`. */
  terminal?: { socketFd: number; size: WindowSize };
}

/** The child's plan, ending in the execve ops of the command. */
export function buildChildPlan(input: ChildPlanInput): Op[] {
  const { spec } = input;
  const proc = spec.process;
  const ops: Op[] = [
    {
      // If the runtime dies, so does the container (the runtime's own thread
      // made the clone and lives as long as the process).
      call: "prctl",
      args: [K.PR_SET_PDEATHSIG, K.SIGKILL, 0, 0, 0],
      label: "set parent-death signal",
    },
    { call: "wait_sync", args: [], label: "wait for the runtime" },
  ];
  if (input.nullStdin) ops.push(...nullStdinOps());
  input.stdio?.forEach((fd, target) => {
    // dup3 refuses equal fds; such an fd is in place already.
    if (fd !== target) ops.push({ call: "dup3", args: [fd, target, 0], label: `set fd ${target}` });
  });
  ops.push(...joinNetworkOps(spec));
  if (hasNamespace(spec, "user")) ops.push(...becomeNamespaceRootOps());
  if (hasNamespace(spec, "cgroup")) {
    ops.push({ call: "unshare", args: [CLONE.NEWCGROUP], label: "enter a new cgroup namespace" });
  }
  ops.push(
    { call: "setsid", args: [], label: "start a new session" },
    { call: "umask", args: [0], label: "umask 0 for device nodes" },
  );
  if (hasNamespace(spec, "mount")) {
    ops.push(...rootfsOps({
      rootfs: spec.root.path,
      mounts: input.mounts,
      devices: spec.linux.devices ?? [],
      readonly: spec.root.readonly ?? false,
      bindDevices: hasNamespace(spec, "user"),
      overlay: input.overlay && hasNamespace(spec, "user")
        ? { ...input.overlay, userxattr: true }
        : input.overlay,
      masked: input.masked,
      readonlyPaths: spec.linux.readonlyPaths,
    }));
  }
  // Before rlimits: a low RLIMIT_NOFILE must not refuse the fds it opens.
  ops.push(...workdirOps(proc.cwd));
  if (hasNamespace(spec, "uts") && spec.hostname) {
    ops.push({
      call: "sethostname",
      args: [spec.hostname, new TextEncoder().encode(spec.hostname).length],
      label: `sethostname ${spec.hostname}`,
    });
  }
  if (hasNamespace(spec, "network")) ops.push(...loopbackUpOps());
  // Before the init fork, so the init and the command share the terminal's session.
  if (input.terminal) ops.push(...ptyOps(input.terminal.socketFd, input.terminal.size));
  ops.push(...rlimitOps(proc.rlimits));
  ops.push(
    // Before a second process (--init's command, an exec) can share the PID
    // namespace: nothing of the runtime's stays open (the pty socket and
    // stdio copies are used above).
    { call: "close_fds", args: [], label: "close the runtime's files" },
    { call: "reset_signals", args: [], label: "reset signal handlers" },
  );
  if (input.init) {
    ops.push(
      { call: "init", args: [], label: "fork the init process" },
      ...parentDeathOps("the init fork"),
    );
  }
  ops.push({
    call: "rt_sigprocmask",
    args: [K.SIG_SETMASK, new Uint8Array(8), null, 8],
    label: "unblock signals",
  });
  ops.push(
    { call: "umask", args: [proc.user.umask ?? 0o022], label: "set umask" },
    {
      // Nothing the runtime holds open may reach the command.
      call: "close_range",
      args: [3, 0xffffffff, K.CLOSE_RANGE_CLOEXEC],
      label: "mark inherited files close-on-exec",
      tolerate: ["ENOSYS", "EINVAL"],
    },
    ...(input.securityOps ?? []),
    ...execOps(proc.args, proc.env ?? []),
  );
  return ops;
}
