/**
 * Masked and read-only paths (spec.linux.maskedPaths/readonlyPaths), as
 * runc applies them: the container's /dev/null bound over a masked file, an
 * empty read-only tmpfs over a masked directory, and a read-only bind of
 * each read-only path onto itself. Each path is resolved in the container's
 * root and acted on through its fd (./in_root.ts); paths the kernel does
 * not have are skipped.
 * @module
 */

import { K, MS } from "../../ffi/syscalls.ts";
import { containerPath, type Fragment, pathBuffer } from "./in_root.ts";

/**
 * A masked path and whether it is a directory (which a file bind cannot
 * cover); undefined when only the container's root can tell.
 */
export interface MaskedPath {
  path: string;
  dir?: boolean;
}

/** Whether `path` is in /proc or /sys, which show the kernel's files. */
function inKernelFs(path: string): boolean {
  return /^\/+(proc|sys)(\/|$)/.test(path);
}

/**
 * What Linux's /proc and /sys hold at the names runc and Docker mask
 * (true: a directory): the kernel's own layout, the same on every kernel
 * that has them. Known here, they cost the start no stat; one a kernel
 * lacks is skipped in the child (its resolution tolerates ENOENT).
 */
export const KERNEL_DIRS: ReadonlyMap<string, boolean> = new Map([
  ["/proc/acpi", true],
  ["/proc/asound", true],
  ["/proc/kcore", false],
  ["/proc/keys", false],
  ["/proc/latency_stats", false],
  ["/proc/timer_list", false],
  ["/proc/timer_stats", false],
  ["/proc/sched_debug", false],
  ["/proc/scsi", true],
  ["/sys/firmware", true],
  ["/sys/devices/virtual/powercap", true],
]);

/**
 * Classifies masked paths in /proc and /sys: the usual ones by the table
 * above, any other by the host's own file (the container's are the same
 * kernel's, mounted the same way, and no container can change what they
 * hold; paths the kernel lacks are left out). Any other path is the
 * container root's, which the host's file says nothing about: the child
 * finds out (see maskOps).
 */
export function classifyMaskedPaths(paths: readonly string[]): MaskedPath[] {
  const out: MaskedPath[] = [];
  for (const path of paths) {
    if (!inKernelFs(path)) {
      out.push({ path });
      continue;
    }
    const known = KERNEL_DIRS.get(path.replace(/\/+$/, ""));
    if (known !== undefined) {
      out.push({ path, dir: known });
      continue;
    }
    try {
      out.push({ path, dir: Deno.statSync(path).isDirectory });
    } catch {
      // Not on this kernel: nothing to hide.
    }
  }
  return out;
}

/**
 * Ops masking and write-protecting paths below the root fd of op `root`,
 * once /proc, /sys and /dev are mounted. A path missing in the container is
 * skipped (ENOENT tolerated; the ops needing its fd are skipped with it).
 */
export function maskOps(
  f: Fragment,
  root: number,
  masked: readonly MaskedPath[],
  readonly: readonly string[],
): void {
  // The container's own /dev/null (runc binds it after pivot_root): the
  // host's would show the host's devtmpfs in the container's mountinfo.
  const devNull = pathBuffer();
  if (masked.some((m) => m.dir !== true)) {
    f.open(root, "dev/null", 0, "resolve /dev/null", { path: devNull });
  }
  for (const { path, dir } of masked) {
    const at = pathBuffer();
    f.open(root, containerPath(path, "masked path"), 0, `resolve ${path}`, {
      path: at,
      tolerateMissing: true,
    });
    const tmpfs = ["tmpfs", at, "tmpfs", MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, "size=0"];
    const bind = [devNull, at, null, MS.BIND, null];
    if (dir !== undefined) {
      f.push({
        call: "mount",
        args: dir ? tmpfs : bind,
        label: `mask ${path}`,
        // Its resolution was tolerated and left the path empty.
        tolerate: ["ENOENT"],
      });
      continue;
    }
    // A path of the root: the kernel refuses a tmpfs on a file and a file
    // on a directory, both with ENOTDIR, so exactly one of these applies.
    f.push({
      call: "mount",
      args: tmpfs,
      label: `mask ${path} (if a directory)`,
      tolerate: ["ENOENT", "ENOTDIR"],
    });
    f.push({
      call: "mount",
      args: bind,
      label: `mask ${path} (if not a directory)`,
      tolerate: ["ENOENT", "ENOTDIR"],
    });
  }
  for (const path of readonly) {
    const fd = f.open(root, containerPath(path, "read-only path"), 0, `resolve ${path}`, {
      tolerateMissing: true,
    });
    const tree = f.push({
      call: "open_tree",
      args: [f.at(fd), "", K.OPEN_TREE_CLONE | K.O_CLOEXEC | K.AT_RECURSIVE | K.AT_EMPTY_PATH],
      label: `open ${path} to bind it on itself`,
    });
    f.push({
      call: "move_mount",
      args: [f.at(tree), "", f.at(fd), "", K.MOVE_MOUNT_F_EMPTY_PATH | K.MOVE_MOUNT_T_EMPTY_PATH],
      label: `bind ${path} for read-only`,
    });
    const at = f.fdPath(tree);
    f.push({
      call: "mount",
      args: [
        null,
        f.at(at),
        null,
        MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
        null,
      ],
      label: `remount ${path} read-only`,
      tolerate: ["EINVAL"],
    });
  }
}

/**
 * spec.linux.sysctl (`--sysctl`, checked by sysctl.ts): written by the child
 * into its own namespaces' /proc/sys after /proc is mounted in the new root
 * and before /proc/sys is made read-only; each file resolved inside the
 * root (open_in_root), then reopened for writing through that descriptor.
 */
export function sysctlOps(f: Fragment, root: number, sysctl: Record<string, string>): void {
  for (const [name, value] of Object.entries(sysctl)) {
    const path = `proc/sys/${name.replaceAll(".", "/")}`;
    const at = pathBuffer();
    f.open(root, path, 0, `resolve /${path}`, { path: at });
    const fd = f.push({
      call: "openat",
      args: [K.AT_FDCWD, at, K.O_WRONLY | K.O_CLOEXEC, 0],
      label: `open /${path} for writing`,
    });
    const bytes = new TextEncoder().encode(value);
    f.push({
      call: "write",
      args: [f.at(fd), bytes, bytes.length],
      label: `sysctl ${name}=${value}`,
    });
    f.push({ call: "close", args: [f.at(fd)], label: `close /${path}` });
  }
}
