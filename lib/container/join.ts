/**
 * `exec`: a new process in a running container. The child opens the
 * container's namespace files, joins them with setns (user first, mount
 * last, since the paths are resolved in the host's /proc), then forks: the
 * PID namespace applies only to children. The fork's parent stays as a
 * signal-forwarding waiter, the child runs the command.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { parentDeathOps } from "../security/process_ops.ts";
import type { Namespace, Rlimit } from "../spec.ts";
import { ptyOps, type WindowSize } from "../tty/pty_ops.ts";
import { execOps } from "./exec.ts";
import { becomeNamespaceRootOps, execHelperOps, nullStdinOps } from "./plan.ts";
import { rlimitOps } from "./rlimits.ts";
import { workdirOps } from "../mounts/plan.ts";

/** setns order: the user namespace grants the rights to join the others. */
const ORDER: readonly Namespace["type"][] = [
  "user",
  "ipc",
  "uts",
  "network",
  "pid",
  "cgroup",
  "mount",
];
const FILE: Record<Namespace["type"], string> = {
  user: "user",
  ipc: "ipc",
  uts: "uts",
  network: "net",
  pid: "pid",
  cgroup: "cgroup",
  mount: "mnt",
  time: "time",
};

/** What {@link buildJoinPlan} needs. */
export interface JoinInput {
  /** The container's PID 1, as the host sees it. */
  pid: number;
  /**
   * The fd of the exec helper's sealed memfd (ffi/monitor.ts execHelperFd):
   * the command is executed through it, never as a copy of
   * the runtime's binary. Left out only by tests of the plan's shape.
   */
  execHelperFd?: number;

  /** The namespaces the container has of its own. */
  namespaces: readonly Namespace["type"][];
  args: readonly string[];
  env: readonly string[];
  cwd: string;
  terminal?: { socketFd: number; size: WindowSize };
  /** Security steps of the container (user, capabilities, seccomp), last before exec. */
  securityOps?: readonly Op[];
  /** The container's rlimits (spec.process.rlimits): PID 1 has them, so does this process. */
  rlimits?: readonly Rlimit[];
  /** The process's attributes set by system call (I/O priority, personality): processAttributeOps. */
  attributeOps?: readonly Op[];
  /**
   * exec -d: the runtime returns once the command runs. No parent-death
   * signal once released, stdin, stdout and stderr on the host's /dev/null.
   */
  detached?: boolean;
}

/** The plan of a process joining a running container. */
export function buildJoinPlan(input: JoinInput): Op[] {
  const joined = ORDER.filter((t) => input.namespaces.includes(t));
  const ops: Op[] = [
    ...execHelperOps(input.execHelperFd),
    {
      call: "prctl",
      args: [K.PR_SET_PDEATHSIG, K.SIGKILL, 0, 0, 0],
      label: "set parent-death signal",
    },
    { call: "wait_sync", args: [], label: "wait for the runtime" },
  ];
  if (input.detached) {
    // Released: the runtime may now exit without taking the command along.
    // The namespace files' indices below count these ops.
    ops.push(
      { call: "prctl", args: [K.PR_SET_PDEATHSIG, 0, 0, 0, 0], label: "outlive the runtime" },
      ...nullStdinOps(),
      { call: "dup3", args: [0, 1, 0], label: "stdout to /dev/null" },
      { call: "dup3", args: [0, 2, 0], label: "stderr to /dev/null" },
    );
  }
  const first = ops.length;
  for (const t of joined) {
    ops.push({
      call: "openat",
      args: [K.AT_FDCWD, `/proc/${input.pid}/ns/${FILE[t]}`, K.O_RDONLY | K.O_CLOEXEC, 0],
      label: `open /proc/${input.pid}/ns/${FILE[t]}`,
    });
  }
  // A container without a mount namespace of its own is chrooted into its
  // root (an OCI config without one): so is a process joining it.
  const chrooted = !joined.includes("mount");
  const root = ops.length;
  if (chrooted) {
    ops.push({
      call: "openat",
      args: [K.AT_FDCWD, `/proc/${input.pid}/root`, K.O_PATH | K.O_DIRECTORY | K.O_CLOEXEC, 0],
      label: `open /proc/${input.pid}/root`,
    });
  }
  joined.forEach((t, k) => {
    ops.push({ call: "setns", args: [{ ref: first + k }, 0], label: `join the ${t} namespace` });
  });
  joined.forEach((_, k) =>
    ops.push({ call: "close", args: [{ ref: first + k }], label: "close namespace file" })
  );
  if (chrooted) {
    ops.push(
      { call: "fchdir", args: [{ ref: root }], label: "enter the container's root" },
      { call: "chroot", args: ["."], label: "chroot into the container's root" },
      { call: "close", args: [{ ref: root }], label: "close the container's root" },
    );
  }
  if (joined.includes("user")) ops.push(...becomeNamespaceRootOps());
  ops.push(
    { call: "reset_signals", args: [], label: "reset signal handlers" },
    {
      // The fork below enters the container's PID namespace, where its
      // processes see this one: nothing of the runtime's may be open then.
      call: "close_fds",
      args: input.terminal ? [input.terminal.socketFd] : [],
      label: "close the runtime's files",
    },
    { call: "init", args: [], label: "fork into the PID namespace" },
    // The fork's child has no parent-death signal; its parent is the waiter.
    ...parentDeathOps("the fork into the PID namespace"),
    { call: "setsid", args: [], label: "start a new session" },
  );
  if (input.terminal) ops.push(...ptyOps(input.terminal.socketFd, input.terminal.size));
  ops.push(
    {
      call: "rt_sigprocmask",
      args: [K.SIG_SETMASK, new Uint8Array(8), null, 8],
      label: "unblock signals",
    },
    // Resolved in the container's root, as a fd: never a runtime fd's magic link.
    ...workdirOps(input.cwd, false),
    // After the fds above are open: a low RLIMIT_NOFILE must not refuse them.
    ...rlimitOps(input.rlimits),
    ...(input.attributeOps ?? []),
    {
      call: "close_range",
      args: [3, 0xffffffff, K.CLOSE_RANGE_CLOEXEC],
      label: "mark inherited files close-on-exec",
      tolerate: ["ENOSYS", "EINVAL"],
    },
    ...(input.securityOps ?? []),
    ...execOps(input.args, input.env, input.execHelperFd !== undefined),
  );
  return ops;
}
