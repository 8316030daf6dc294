/**
 * Running one container: prepare its mounts, build its plan, launch it.
 * Nothing of it stays on the host: every mount lives in the child's mount
 * namespace.
 * @module
 */

import { execHelperFd } from "../../ffi/monitor.ts";
import type { Op } from "../../ffi/plan.ts";
import type { CgroupStats } from "../cgroups/types.ts";
// Loaded with this module (only run, create and runc's verbs load it): a
// dynamic import at the cgroup step was a second pass of the module loader.
import { createCgroup } from "../cgroups/cgroup.ts";
import { debugLine } from "../debug.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import type { RootOverlay } from "../mounts/plan.ts";
import { classifyMaskedPaths } from "../mounts/masks.ts";
import { checkDevices, closeMountFds, prepareMounts } from "../mounts/prepare.ts";
import { type NetSetup, removeNetDirAsync } from "../net/etc_files.ts";
import { securityOps } from "../security/process_ops.ts";
import type { Spec } from "../spec.ts";
import { newId, StateStore } from "../state/store.ts";
import { launch, type RunHooks } from "./launch.ts";
import { buildChildPlan, cloneFlags } from "./plan.ts";

export { FORWARDED_SIGNALS, type RunHooks } from "./launch.ts";

/** How to run. */
export interface RunOptions {
  /** The container's id (names its cgroup); a random one when not given. */
  id?: string;
  /** Put a reaping, signal-forwarding init above the command. */
  init?: boolean;
  /** One line per step, parent and child, on stderr. */
  debug?: boolean;
  /**
   * Keep stdin: the runtime's own is the container's (with a terminal:
   * forwarded to it, the host terminal in raw mode). Without it the
   * container reads /dev/null, as in docker.
   */
  interactive?: boolean;
  /** The container's stdin, stdout and stderr, when not the runtime's own. */
  stdio?: readonly [number, number, number];
  /**
   * The container's stdout and stderr alone (a log copier's pipes); stdin
   * as `interactive` says. With a terminal, what the terminal shows goes
   * to the first.
   */
  output?: readonly [number, number];
  /** An image's overlayfs root to mount on spec.root.path. */
  overlay?: RootOverlay;
  /** Called with the container's cgroup directories once they exist. */
  onCgroup?: (paths: readonly string[]) => void;
  /** Called when the kernel's OOM killer ended the container. */
  onOom?: () => void;
  /**
   * The state root whose owners/ journal records this process as the owner
   * of the container's cgroup while it runs (see StateStore.claim), so the
   * next command reclaims it if this one is killed; dead owners' leftovers
   * are reclaimed at exit. A supervisor holds its own claim instead.
   */
  stateRoot?: string;
  /**
   * The container's networking: its /etc files' directory, and (attach) a
   * CNI network or rootless helper set up between clone and release. Taken
   * down (its files removed unless kept) on every path, failures included.
   */
  net?: { setup: NetSetup; attach: boolean };
  /** Ops spliced in before the exec instead of those the spec calls for. */
  securityOps?: readonly Op[];
  hooks?: RunHooks;
}

/** Checks that the rootfs is a directory (one sentence when not). */
export function checkRootfs(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    throw fromDenoError("rootfs", path, e);
  }
  if (!info.isDirectory) throw new ContainerError("rootfs", path, 20);
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1048576)} MiB`;
}

/** What the run says when the kernel's OOM killer struck in the container's cgroup. */
export function oomSentence(stats: CgroupStats): string | undefined {
  if (!stats.oomKilled) return undefined;
  const limit = stats.memoryLimitBytes ? ` (limit ${mib(stats.memoryLimitBytes)})` : "";
  return `container killed: out of memory${limit}`;
}

/** Whether the spec asks for a limit a cgroup enforces. */
function hasLimits(spec: Spec): boolean {
  const r = spec.linux.resources;
  return !!r && ["memory", "cpu", "pids", "blockIO", "unified"].some((k) => k in r);
}

/**
 * The container's cgroup, made before the clone: under the runtime's own
 * cgroup (or spec.linux.cgroupsPath). Without root there is none unless the
 * spec asks for limits, which then cannot be applied: a warning, not silence.
 */
export function makeCgroup(
  spec: Spec,
  id: string,
  debug: boolean,
  place?: { parent?: string; name: string },
) {
  if (Deno.uid() !== 0) {
    if (hasLimits(spec)) {
      console.error(
        "minicontainer: warning: resource limits need root (cgroups are not delegated here); running without them",
      );
    }
    return undefined;
  }
  const cg = createCgroup(id, spec.linux.resources ?? {}, {
    parent: place ? place.parent : spec.linux.cgroupsPath,
    name: place?.name,
    warn: (message) => console.error(`minicontainer: warning: ${message}`),
  });
  if (debug) debugLine(`cgroup ${cg.paths.join(" ")}`);
  return cg;
}

/**
 * Takes the container off its network (CNI DEL, helper stopped) and removes
 * its /etc files unless they are kept (a detached container's, until rm).
 * A failing DEL is a warning: the container's own status still counts.
 */
export async function releaseNetwork(net: RunOptions["net"]): Promise<void> {
  if (!net) return;
  if (!net.attach) {
    if (!net.setup.keep) await removeNetDirAsync(net.setup.dir);
    return;
  }
  const { detachNetwork } = await import("../net/attach.ts");
  try {
    await detachNetwork(net.setup);
  } catch (e) {
    console.error(`minicontainer: warning: ${(e as Error).message}`);
  }
}

/** Runs `spec` to completion; resolves to the container's exit status. */
export async function runContainer(spec: Spec, opts: RunOptions = {}): Promise<number> {
  // Only root makes cgroups, so only root needs their journal entry.
  if (opts.stateRoot === undefined || Deno.uid() !== 0) return await runOwned(spec, opts);
  const store = new StateStore(opts.stateRoot);
  const id = opts.id ?? newId();
  let claim: string;
  try {
    claim = store.claim(id);
  } catch (e) {
    await releaseNetwork(opts.net); // as runOwned would have (see RunOptions.net)
    throw e;
  }
  try {
    return await runOwned(spec, { ...opts, id });
  } finally {
    store.release(claim);
    // One listing; the walk for their cgroups only when an owner died.
    if (store.deadClaims().size) await (await import("./reclaim.ts")).reclaimDead(store);
  }
}

async function runOwned(spec: Spec, opts: RunOptions): Promise<number> {
  // Once: started as soon as the child is gone, awaited on every path (the
  // caller counts on it: see RunOptions.net).
  let netReleased: Promise<void> | undefined;
  const release = () => (netReleased ??= releaseNetwork(opts.net));
  let mounts: ReturnType<typeof prepareMounts> = [];
  let cg: ReturnType<typeof makeCgroup>;
  const id = opts.id ?? newId();
  try {
    checkRootfs(spec.root.path);
    mounts = prepareMounts(spec.mounts, spec.linux);
    checkDevices(spec.linux.devices ?? []);
    if (opts.debug) debugLine("rootfs, mounts and devices checked");
    cg = makeCgroup(spec, id, opts.debug ?? false);
  } catch (e) {
    closeMountFds(mounts);
    await release();
    throw e;
  }
  const userns = spec.linux.namespaces.some((n) => n.type === "user" && !n.path);
  let oom: string | undefined;
  // Set once the clean-up removed the cgroup: the finally's destroy, for
  // failures before it, would only fail again on each missing file.
  let cgGone = false;
  let code: number;
  try {
    // Inside the try: a failing record (a full state directory) must not leak the cgroup.
    if (cg) opts.onCgroup?.(cg.paths);
    code = await launch({
      plan: (terminal) =>
        buildChildPlan({
          spec,
          mounts,
          execHelperFd: execHelperFd(),
          init: opts.init ?? false,
          // fd 0 in place (after /dev/null replaced it without -i): dup3 skips it.
          stdio: opts.stdio ??
            (opts.output && !spec.process.terminal
              ? [0, opts.output[0], opts.output[1]]
              : undefined),
          nullStdin: !opts.interactive && !opts.stdio,
          overlay: opts.overlay,
          masked: classifyMaskedPaths(spec.linux.maskedPaths ?? []),
          securityOps: opts.securityOps ?? securityOps(spec),
          terminal,
        }),
      cloneFlags: cloneFlags(spec),
      pidNamespace: spec.linux.namespaces.find((n) => n.type === "pid" && n.path)?.path,
      forwardSignalsEarly: opts.net?.attach === true,
      command: spec.process.args[0],
      terminal: spec.process.terminal,
      interactive: opts.interactive,
      consoleOutput: spec.process.terminal ? opts.output?.[0] : undefined,
      idMaps: userns
        ? { uidMappings: spec.linux.uidMappings ?? [], gidMappings: spec.linux.gidMappings ?? [] }
        : undefined,
      debug: opts.debug,
      hooks: {
        ...opts.hooks,
        async beforeRelease(pid) {
          cg?.addProcess(pid);
          if (opts.net?.attach) {
            // Loaded only for CNI networks: the default path stays lean.
            const { attachNetwork } = await import("../net/attach.ts");
            await attachNetwork(opts.net.setup, id, pid);
          }
          await opts.hooks?.beforeRelease?.(pid);
        },
        async cleanup() {
          // The container's files (its /etc files here, the caller's own in
          // its hook) go on Deno's thread pool while this thread takes the
          // cgroup down. A CNI network is left until then: its DEL runs
          // plugins, after every process of the container is gone.
          if (!opts.net?.attach) release();
          const callers = (async () => await opts.hooks?.cleanup?.())();
          try {
            if (cg) {
              // Peak memory and CPU time are read for --debug's line only.
              const stats = cg.stats(opts.debug ?? false);
              oom = oomSentence(stats);
              if (opts.debug) {
                debugLine(
                  `peak memory ${
                    stats.memoryPeakBytes === undefined ? "unknown" : mib(stats.memoryPeakBytes)
                  }, ` +
                    `cpu time ${
                      stats.cpuUsageUsec === undefined
                        ? "unknown"
                        : `${(stats.cpuUsageUsec / 1e6).toFixed(3)} s`
                    }`,
                );
              }
              cg.destroy();
              cgGone = true;
              if (opts.debug) debugLine("cgroup removed");
            }
          } finally {
            await callers;
          }
        },
      },
    });
  } finally {
    closeMountFds(mounts);
    // Idempotent; covers failures before launch could run its own cleanup.
    if (!cgGone) cg?.destroy();
    await release();
  }
  if (oom) {
    console.error(`minicontainer: ${oom}`);
    opts.onOom?.();
    return 137;
  }
  return code;
}
