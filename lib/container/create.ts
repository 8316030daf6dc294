/**
 * An OCI `create`: the container is set up to the last step before its
 * command and left blocked on its exec fifo (see ChildPlanInput.created);
 * this process returns once it is, and exits. The container then belongs to
 * the caller's subreaper (conmon, containerd's shim), as with runc; its
 * cgroup stays until `delete`.
 * @module
 */

import { execHelperFd } from "../../ffi/monitor.ts";
import {
  errno,
  inPidNamespace,
  libc,
  memfd,
  pipeCloexec,
  sealMemfd,
  SysError,
  writeAll,
} from "../../ffi/libc.ts";
import { encodePlan } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import type { ContainerCgroup } from "../cgroups/cgroup.ts";
import { ContainerError } from "../errors.ts";
import { classifyMaskedPaths } from "../mounts/masks.ts";
import { checkDevices, closeMountFds, prepareMounts } from "../mounts/prepare.ts";
import { hookOpError } from "../oci/hook_ops.ts";
import { securityOps } from "../security/process_ops.ts";
import type { Spec } from "../spec.ts";
import type { WindowSize } from "../tty/pty_ops.ts";
import { writeMappings } from "../userns/mappings.ts";
import { execError } from "./exec.ts";
import { buildChildPlan, cloneFlags, type ContainerHooks } from "./plan.ts";
import { checkRootfs, makeCgroup } from "./run.ts";

/** How to create. */
export interface CreateOptions {
  id: string;
  /** The exec fifo, made by the caller. */
  fifoPath: string;
  /** A connected unix socket to send the pty master on (spec.process.terminal). */
  consoleFd?: number;
  /** The pty's size when spec.process.consoleSize gives none (default 24x80). */
  consoleSize?: WindowSize;
  /**
   * The caller stays the init's parent and waits for it (a foreground
   * `run`): the init keeps its parent-death signal, as `run`'s containers do.
   */
  foreground?: boolean;
  /** Called once the init was released: it sets itself up meanwhile. */
  released?(pid: number): void;
  debug?: boolean;
  /** For config.json's hooks (lib/cli/oci.ts runs the runtime's own). */
  hooks?: CreateHooks;
}

/** What createContainer asks of the caller for the hooks. */
export interface CreateHooks {
  /** The state JSON given to the child's hooks of a stage, once the pid is known. */
  state(pid: number, status: "creating" | "created"): string;
  /**
   * Runs prestart and createRuntime hooks while the child waits before its
   * createContainer hooks and pivot_root (only when the spec has some).
   */
  runtime(pid: number): Promise<void>;
}

/** What was created. */
export interface Created {
  /** The container's init, as the host sees it. */
  pid: number;
  /** Its cgroup directories, removed at delete. */
  cgroupPaths: string[];
  /** Its cgroup (none without root), for what it measured once the init exited. */
  cgroup?: ContainerCgroup;
  /**
   * With `foreground`: resolves once the init executed its command (after
   * start), or rejects with the sentence of its failure (a command not
   * found in $PATH, which no check before the fifo can see). Call it once,
   * on every path: it closes the init's error pipe.
   */
  execed?: () => Promise<void>;
}

/**
 * A close-on-exec memfd, sealed once written: the state a child hook reads
 * as its stdin, which one hook must not be able to rewrite for the next.
 */
function stateFile(name: string): number {
  return memfd(name, true);
}

function openPath(path: string): number {
  const fd = libc().open(
    new TextEncoder().encode(`${path}\0`),
    K.O_PATH | K.O_CLOEXEC,
  );
  if (fd < 0) throw new SysError(`open ${path}`, errno());
  return fd;
}

/**
 * Where an OCI container's cgroup goes: cgroupsPath names the cgroup itself
 * (runc's reading), "/a/b/c" or "a/b" (below the runtime's own), or
 * systemd's "slice:prefix:name" (made `/slice/prefix-name.scope` directly
 * on the file system: no systemd unit is asked for). Without it,
 * `minicontainer-<id>` below the runtime's own cgroup.
 */
export function cgroupPlace(
  cgroupsPath: string | undefined,
  id: string,
): { parent?: string; name: string } | undefined {
  if (!cgroupsPath) return undefined;
  const systemd = /^([^:/]*):([^:/]*):([^:/]+)$/.exec(cgroupsPath);
  if (systemd) {
    const slice = systemd[1] || "system.slice";
    const name = systemd[2] ? `${systemd[2]}-${systemd[3]}.scope` : `${systemd[3]}.scope`;
    return { parent: `/${slice}`, name };
  }
  const parts = cgroupsPath.split("/").filter((p) => p !== "");
  const name = parts.pop();
  if (!name) return { name: `minicontainer-${id}` };
  const parent = (cgroupsPath.startsWith("/") ? "/" : "") + parts.join("/");
  return { parent, name };
}

/** Creates the container of `spec`; resolves once its init waits on the exec fifo. */
export async function createContainer(spec: Spec, opts: CreateOptions): Promise<Created> {
  checkRootfs(spec.root.path);
  const mounts = prepareMounts(spec.mounts, spec.linux);
  checkDevices(spec.linux.devices ?? []);
  const debug = opts.debug ?? false;
  const userns = spec.linux.namespaces.some((n) => n.type === "user" && !n.path);
  const cg = makeCgroup(spec, opts.id, debug, cgroupPlace(spec.linux.cgroupsPath, opts.id));
  const t = trampoline();
  let pid = -1;
  let done = false;
  const fifoFd = openPath(opts.fifoPath);
  // Chrooted without a mount namespace, the child opens the fifo by name in its directory.
  const slash = opts.fifoPath.lastIndexOf("/");
  const fifoAt = spec.linux.namespaces.some((n) => n.type === "mount") ? undefined : {
    dirFd: openPath(opts.fifoPath.slice(0, slash) || "/"),
    name: opts.fifoPath.slice(slash + 1),
  };
  // libc's and the trampoline's calls: ffi/io.ts's symbols cost ~2 ms to bind.
  const [readyR, readyW] = pipeCloexec();
  let errorFd = -1;
  const h = spec.hooks ?? {};
  const pause = !!(opts.hooks && (h.prestart?.length || h.createRuntime?.length));
  let hooks: ContainerHooks | undefined;
  try {
    if (opts.hooks && (pause || h.createContainer?.length || h.startContainer?.length)) {
      hooks = {
        createContainer: h.createContainer ?? [],
        startContainer: h.startContainer ?? [],
        createStateFd: -1,
        startStateFd: -1,
        pause,
      };
      hooks.createStateFd = stateFile("createContainer-state");
      hooks.startStateFd = stateFile("startContainer-state");
    }
    const size = spec.process.consoleSize;
    const plan = buildChildPlan({
      spec,
      mounts,
      execHelperFd: execHelperFd(),
      init: false,
      masked: classifyMaskedPaths(spec.linux.maskedPaths ?? []),
      securityOps: securityOps(spec),
      terminal: opts.consoleFd === undefined ? undefined : {
        socketFd: opts.consoleFd,
        size: {
          rows: size?.height || opts.consoleSize?.rows || 24,
          cols: size?.width || opts.consoleSize?.cols || 80,
        },
      },
      created: { fifoFd, readyFd: readyW, fifoAt, hooks, parentDeath: opts.foreground },
    });
    /** The sentence of the op the init's error record names. */
    const failure = (record: Uint8Array) => {
      const view = new DataView(record.buffer, record.byteOffset, 8);
      const op = plan[view.getInt32(0, true)];
      const err = view.getInt32(4, true);
      if (op?.exec) return execError(spec.process.args[0], err);
      return hookOpError(op, err) ?? new ContainerError(op?.label ?? "create", undefined, err);
    };
    let syncFd: number;
    const encoded = encodePlan(plan, debug);
    const spawn = () => t.spawn(cloneFlags(spec), encoded, debug ? 2 : -1);
    // A PID namespace joined by path: the init is cloned into it.
    const pidns = spec.linux.namespaces.find((n) => n.type === "pid" && n.path)?.path;
    ({ pid, errorFd, syncFd } = pidns ? inPidNamespace(pidns, spawn) : spawn());
    t.close(readyW);
    try {
      if (hooks && opts.hooks) {
        // Shared with the child since the clone: written before it can read.
        writeAll(hooks.createStateFd, new TextEncoder().encode(opts.hooks.state(pid, "creating")));
        sealMemfd(hooks.createStateFd, "createContainer-state");
        writeAll(hooks.startStateFd, new TextEncoder().encode(opts.hooks.state(pid, "created")));
        sealMemfd(hooks.startStateFd, "startContainer-state");
      }
      if (userns) {
        await writeMappings(pid, {
          uidMappings: spec.linux.uidMappings ?? [],
          gidMappings: spec.linux.gidMappings ?? [],
        });
      }
      cg?.addProcess(pid);
    } catch (e) {
      t.close(syncFd);
      throw e;
    }
    let ready: number;
    if (pause && opts.hooks) {
      // Two bytes on the sync pipe: the release, then the end of the runtime's hooks.
      try {
        writeAll(syncFd, new Uint8Array([1]));
        opts.released?.(pid);
        ready = (await t.readFull(readyR, 1)).length;
        if (ready === 1) await opts.hooks.runtime(pid);
      } catch (e) {
        t.close(syncFd);
        throw e;
      }
      if (ready === 1) t.release(syncFd);
      else t.close(syncFd);
    } else {
      t.release(syncFd);
      opts.released?.(pid);
    }
    ready = (await t.readFull(readyR, 1)).length;
    if (ready !== 1) {
      const record = await t.readFull(errorFd, 8);
      await t.wait(pid).catch(() => {});
      pid = -1;
      if (record.length !== 8) {
        throw new ContainerError("create", opts.id, undefined, "the container's init died");
      }
      throw failure(record);
    }
    done = true;
    let execed: Created["execed"];
    if (opts.foreground) {
      const fd = errorFd;
      errorFd = -1; // now execed's
      execed = async () => {
        try {
          const record = await t.readFull(fd, 8);
          if (record.length === 8) throw failure(record);
        } finally {
          t.close(fd);
        }
      };
    }
    return { pid, cgroupPaths: [...(cg?.paths ?? [])], cgroup: cg, execed };
  } finally {
    if (!done) {
      if (pid > 0) {
        t.kill(pid, K.SIGKILL);
        await t.wait(pid).catch(() => {});
      }
      cg?.destroy();
    }
    closeMountFds(mounts);
    // The trampoline's close: libc's would be one more symbol to bind.
    t.close(fifoFd);
    if (fifoAt) t.close(fifoAt.dirFd);
    t.close(readyR);
    for (const fd of [hooks?.createStateFd ?? -1, hooks?.startStateFd ?? -1]) {
      if (fd >= 0) t.close(fd);
    }
    if (errorFd >= 0) t.close(errorFd);
  }
}
