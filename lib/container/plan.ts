/**
 * From a spec to the child's plan: the ordered system calls the cloned child
 * makes between clone() and execve(). Pure: it reads nothing from the host,
 * so tests assert on it as data.
 * @module
 */

import { type Op, removeOps } from "../../ffi/plan.ts";
import { CLONE, K } from "../../ffi/syscalls.ts";
import type { MaskedPath } from "../mounts/masks.ts";
import type { PreparedMount } from "../mounts/prepare.ts";
import { parseMountOptions } from "../mounts/options.ts";
import { rootfsOps, type RootOverlay, workdirOps } from "../mounts/plan.ts";
import { loopbackUpOps } from "../net/loopback.ts";
import { ptyOps, type WindowSize } from "../tty/pty_ops.ts";
import { parentDeathOps } from "../security/process_ops.ts";
import { hookOps } from "../oci/hook_ops.ts";
import type { Hook, Namespace, Spec } from "../spec.ts";
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

/** Whether the spec joins an existing user namespace by path. */
function joinsUserNamespace(spec: Spec): boolean {
  return spec.linux.namespaces.some((n) => n.type === "user" && n.path);
}

/** The spec's new namespaces but the cgroup one, as clone(2)/unshare(2) flags. */
function newNamespaceFlags(spec: Spec): number {
  let flags = 0;
  for (const ns of spec.linux.namespaces) {
    if (!ns.path && ns.type !== "cgroup") flags |= NAMESPACE_FLAGS[ns.type];
  }
  return flags;
}

/**
 * The clone(2) flags for the spec's new namespaces. The cgroup namespace is
 * left out: the child enters it after the runtime moved it into its cgroup,
 * so that the namespace is rooted there. With a user namespace joined by
 * path there are none: namespaces made at the clone would belong to the
 * host's user namespace, out of the joined one's reach, so the child makes
 * them with unshare once it has joined (see joinNamespaceOps).
 */
export function cloneFlags(spec: Spec): number {
  return joinsUserNamespace(spec) ? 0 : newNamespaceFlags(spec);
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

/** What the plan needs besides the spec. */
export interface ChildPlanInput {
  spec: Spec;
  /** spec.mounts, prepared. */
  mounts: readonly PreparedMount[];
  /** spec.linux.maskedPaths, classified on the host (file or directory). */
  masked?: readonly MaskedPath[];
  /**
   * The fd of the exec helper's sealed memfd (ffi/monitor.ts execHelperFd):
   * the command and the hooks are executed through it, never as a copy of
   * the runtime's binary. Left out only by tests of the plan's shape.
   */
  execHelperFd?: number;
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
  /**
   * An OCI `create`: the runtime exits before the command starts, so the
   * child has no parent-death signal (the caller's subreaper, conmon or the
   * shim, adopts it, as with runc). At the end of its set-up it writes a
   * byte to `readyFd`, then opens the exec fifo (held as the O_PATH
   * `fifoFd`, reopened through /proc/self/fd) for writing, which blocks
   * until `start` opens it for reading, and writes one byte there.
   */
  created?: CreatedWait;
}

/** See ChildPlanInput.created. */
export interface CreatedWait {
  fifoFd: number;
  readyFd: number;
  /**
   * Without a mount namespace the child is chrooted and has no /proc to
   * reopen `fifoFd` through: the fifo is opened by `name` in the directory
   * held as the O_PATH `dirFd` instead.
   */
  fifoAt?: { dirFd: number; name: string };
  /** Hooks run by the child itself, in the container's namespaces. */
  hooks?: ContainerHooks;
  /**
   * Keep the parent-death signal: a foreground `run` creates and starts in
   * one process, which stays the container's parent and waits for it.
   */
  parentDeath?: boolean;
}

/**
 * The OCI hooks of the container's namespaces. createContainer hooks run
 * before pivot_root (before chroot without a mount namespace), after the
 * runtime's prestart and createRuntime hooks: with `pause`, the child
 * writes byte 2 to readyFd there and waits for a second byte on the sync
 * pipe while the runtime runs those. startContainer hooks run once `start`
 * opened the exec fifo, before the "0" that tells it the command is next;
 * a failing one writes its record to the fifo instead (lib/oci/hook_ops.ts).
 */
export interface ContainerHooks {
  createContainer: readonly Hook[];
  startContainer: readonly Hook[];
  /** memfds holding each stage's state JSON, written by the runtime once it knows the pid. */
  createStateFd: number;
  startStateFd: number;
  pause: boolean;
}

/** The pause for the runtime's hooks, then the createContainer hooks. */
function createHookOps(created: CreatedWait): Op[] {
  const h = created.hooks;
  if (!h) return [];
  return [
    ...(h.pause
      ? [
        {
          call: "write",
          args: [created.readyFd, new Uint8Array([2]), 1],
          label: "report the runtime's hooks are due",
        } satisfies Op,
        { call: "wait_sync", args: [], label: "wait for the runtime's hooks" } satisfies Op,
      ]
      : []),
    ...hookOps("createContainer", h.createContainer, h.createStateFd),
  ];
}

/**
 * Joins the namespaces the spec names by path (`--network container:NAME`,
 * a pod's namespaces), first thing after the release, while the host's
 * /proc is still in view. A
 * PID namespace is not among them: the child is cloned into it (its
 * runtime sets it as the namespace for children around the clone), as
 * setns would move only the child's own children.
 */
function joinNamespaceOps(spec: Spec): Op[] {
  const ops: Op[] = [];
  // The user namespace first: it grants the rights to join the others.
  const joined = spec.linux.namespaces
    .filter((n): n is Namespace & { path: string } => !!n.path && n.type !== "pid")
    .sort((a, b) => Number(b.type === "user") - Number(a.type === "user"));
  // Every file is opened before the first setns: a joined mount namespace
  // would change what the later paths name.
  const n = joined.length;
  for (const ns of joined) {
    ops.push({
      call: "openat",
      args: [K.AT_FDCWD, ns.path, K.O_RDONLY | K.O_CLOEXEC, 0],
      label: `open ${ns.type} namespace ${ns.path}`,
    });
  }
  for (const ns of joined) {
    ops.push({
      call: "setns",
      args: [{ back: n }, NAMESPACE_FLAGS[ns.type]],
      label: `join ${ns.type} namespace ${ns.path}`,
    });
  }
  for (const ns of joined) {
    ops.push({ call: "close", args: [{ back: 2 * n }], label: `close ${ns.path}` });
  }
  if (joinsUserNamespace(spec)) {
    // Made here rather than at the clone, so that the joined user namespace owns them.
    const flags = newNamespaceFlags(spec);
    if (flags) ops.push({ call: "unshare", args: [flags], label: "make the new namespaces" });
  }
  return ops;
}

/**
 * Writes `value` to the host-path `file` (the host's /proc, before
 * pivot_root; /proc/sys resolves in the writer's own namespaces).
 */
function writeFileOps(file: string, value: string, what: string): Op[] {
  const bytes = new TextEncoder().encode(value);
  return [
    {
      call: "openat",
      args: [K.AT_FDCWD, file, K.O_WRONLY | K.O_CLOEXEC, 0],
      label: `open ${file} for ${what}`,
    },
    { call: "write", args: [{ back: 1 }, bytes, bytes.length], label: `set ${what}` },
    { call: "close", args: [{ back: 2 }], label: `close ${file}` },
  ];
}

/**
 * The exec fifo's wait (see ChildPlanInput.created), last before the exec.
 * A command named by path is checked first, in the container, so that a
 * missing one fails `create` with its sentence (as runc's does) instead of
 * a silent exit 127 after `start`.
 */
function execFifoOps(created: CreatedWait, command: string): Op[] {
  const path = new Uint8Array(32);
  const X_OK = 1;
  const startHooks = created.hooks?.startContainer ?? [];
  return [
    ...(command.includes("/")
      ? [
        {
          call: "faccessat",
          args: [K.AT_FDCWD, command, X_OK, 0],
          label: `execve ${command}`,
          exec: true,
        } satisfies Op,
      ]
      : []),
    { call: "write", args: [created.readyFd, new Uint8Array([1]), 1], label: "report ready" },
    { call: "close", args: [created.readyFd], label: "close the ready pipe" },
    ...(created.fifoAt
      ? [
        {
          call: "openat",
          args: [created.fifoAt.dirFd, created.fifoAt.name, K.O_WRONLY | K.O_CLOEXEC, 0],
          label: "wait for start on the exec fifo",
        } satisfies Op,
      ]
      : [
        { call: "fd_path", args: [path, created.fifoFd], label: "name the exec fifo" } satisfies Op,
        {
          call: "openat",
          args: [K.AT_FDCWD, path, K.O_WRONLY | K.O_CLOEXEC, 0],
          label: "wait for start on the exec fifo",
        } satisfies Op,
      ]),
    // The fifo as each hook's failure report: k ops after its open.
    ...hookOps(
      "startContainer",
      startHooks,
      created.hooks?.startStateFd ?? -1,
      (k) => ({ back: k + 1 }),
    ),
    {
      call: "write",
      args: [{ back: startHooks.length + 1 }, new TextEncoder().encode("0"), 1],
      label: "tell start",
    },
    { call: "close", args: [created.fifoFd], label: "close the exec fifo" },
    ...(created.fifoAt
      ? [
        {
          call: "close",
          args: [created.fifoAt.dirFd],
          label: "close the exec fifo's directory",
        } satisfies Op,
      ]
      : []),
  ];
}

/** Whether an op sets the parent-death signal or checks the parent (dropped for `created`, unless it keeps them). */
function isParentDeathOp(op: Op): boolean {
  return op.call === "check_parent" ||
    (op.call === "prctl" && op.args[0] === K.PR_SET_PDEATHSIG);
}

/** The exec_helper op naming the sealed helper's fd `fd`, if any. */
export function execHelperOps(fd: number | undefined): Op[] {
  return fd === undefined
    ? []
    : [{ call: "exec_helper", args: [fd], label: "name the exec helper" }];
}

/** The child's plan, ending in the execve ops of the command. */
export function buildChildPlan(input: ChildPlanInput): Op[] {
  const { spec } = input;
  const proc = spec.process;
  const ops: Op[] = [
    ...execHelperOps(input.execHelperFd),
    {
      // If the runtime dies, so does the container (the runtime's own thread
      // made the clone and lives as long as the process).
      call: "prctl",
      args: [K.PR_SET_PDEATHSIG, K.SIGKILL, 0, 0, 0],
      label: "set parent-death signal",
    },
    { call: "wait_sync", args: [], label: "wait for the runtime" },
    ...joinNamespaceOps(spec),
  ];
  if (input.nullStdin) ops.push(...nullStdinOps());
  input.stdio?.forEach((fd, target) => {
    // dup3 refuses equal fds; such an fd is in place already.
    if (fd !== target) ops.push({ call: "dup3", args: [fd, target, 0], label: `set fd ${target}` });
  });
  const userns = spec.linux.namespaces.some((n) => n.type === "user");
  if (userns) ops.push(...becomeNamespaceRootOps());
  if (hasNamespace(spec, "cgroup")) {
    ops.push({ call: "unshare", args: [CLONE.NEWCGROUP], label: "enter a new cgroup namespace" });
  }
  for (const [key, value] of Object.entries(spec.linux.sysctl ?? {})) {
    ops.push(...writeFileOps(`/proc/sys/${key.replaceAll(".", "/")}`, value, `sysctl ${key}`));
  }
  if (proc.oomScoreAdj !== undefined) {
    ops.push(...writeFileOps("/proc/self/oom_score_adj", `${proc.oomScoreAdj}`, "oom_score_adj"));
  }
  ops.push(...processAttributeOps(spec));
  ops.push(
    { call: "setsid", args: [], label: "start a new session" },
    { call: "umask", args: [0], label: "umask 0 for device nodes" },
  );
  // A mount namespace joined by path gets the container's root too (as
  // with runc): the namespace is the caller's to give.
  if (spec.linux.namespaces.some((n) => n.type === "mount")) {
    ops.push(...rootfsOps({
      rootfs: spec.root.path,
      mounts: input.mounts,
      devices: spec.linux.devices ?? [],
      readonly: spec.root.readonly ?? false,
      bindDevices: userns,
      overlay: input.overlay && userns ? { ...input.overlay, userxattr: true } : input.overlay,
      masked: input.masked,
      readonlyPaths: spec.linux.readonlyPaths,
      sysctl: spec.linux.sysctl,
      beforePivot: input.created ? createHookOps(input.created) : [],
    }));
    const propagation = spec.linux.rootfsPropagation
      ? parseMountOptions([spec.linux.rootfsPropagation]).propagation
      : 0;
    if (propagation) {
      ops.push({
        call: "mount",
        args: [null, "/", null, propagation, null],
        label: `make / ${spec.linux.rootfsPropagation}`,
      });
    }
  } else {
    // No mount namespace: nothing can be mounted without changing the
    // host's table (the OCI loader names what is left out), but the root
    // is still root.path.
    if (input.created) ops.push(...createHookOps(input.created));
    ops.push(
      { call: "chdir", args: [spec.root.path], label: `chdir ${spec.root.path}` },
      { call: "chroot", args: ["."], label: `chroot ${spec.root.path}` },
      { call: "chdir", args: ["/"], label: "chdir /" },
    );
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
    {
      call: "close_fds",
      args: input.created
        ? [
          input.created.fifoFd,
          input.created.readyFd,
          ...(input.created.fifoAt ? [input.created.fifoAt.dirFd] : []),
          ...(input.created.hooks?.startContainer.length ? [input.created.hooks.startStateFd] : []),
        ]
        : [],
      label: "close the runtime's files",
    },
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
    ...(input.created ? execFifoOps(input.created, proc.args[0] ?? "") : []),
    // A container created without a process never gets past the fifo:
    // start refuses it (see lib/cli/oci.ts).
    ...(input.created && !proc.args.length
      ? []
      : execOps(proc.args, proc.env ?? [], input.execHelperFd !== undefined)),
  );
  return input.created && !input.created.parentDeath ? removeOps(ops, isParentDeathOp) : ops;
}

/** ioprio_set(2)'s classes (linux/ioprio.h), shifted into place by IOPRIO_CLASS_SHIFT (13). */
const IOPRIO_CLASS = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 } as const;

/**
 * The process attributes the spec sets by system call: its I/O priority and
 * personality (execution domain). Early, while the child is still root with
 * every capability (the real-time I/O class needs CAP_SYS_ADMIN) and before
 * the seccomp filter, which allows only a few personality values.
 */
export function processAttributeOps(spec: Spec): Op[] {
  const ops: Op[] = [];
  const io = spec.process.ioPriority;
  if (io) {
    ops.push({
      call: "ioprio_set",
      // IOPRIO_WHO_PROCESS (1), this process (0): its children inherit it.
      args: [1, 0, (IOPRIO_CLASS[io.class] << 13) | io.priority],
      label: `set I/O priority ${io.class} ${io.priority}`,
    });
  }
  const persona = spec.linux.personality;
  if (persona) {
    ops.push({
      call: "personality",
      args: [persona.domain === "LINUX32" ? 0x0008 /* PER_LINUX32 */ : 0 /* PER_LINUX */],
      label: `set personality ${persona.domain}`,
    });
  }
  return ops;
}
