/**
 * Masked and read-only paths (spec.linux.maskedPaths/readonlyPaths), as
 * runc applies them: /dev/null bound over a masked file, an empty read-only
 * tmpfs over a masked directory, and a read-only bind of each read-only path
 * onto itself. Each path is resolved in the container's root and acted on
 * through its fd (./in_root.ts); paths the kernel does not have are skipped
 * (ENOENT tolerated, and the ops needing the fd are skipped with it).
 * @module
 */

import { K, MS } from "../../ffi/syscalls.ts";
import { containerPath, type Fragment } from "./in_root.ts";

/**
 * Ops masking and write-protecting paths below the root fd of op `root`,
 * once /proc, /sys and /dev are mounted. Whether a masked path is a file or
 * a directory is left to the kernel, which answers ENOTDIR to the wrong one
 * of the two mounts: no host lookups on the run path.
 */
export function maskOps(
  f: Fragment,
  root: number,
  masked: readonly string[],
  readonly: readonly string[],
): void {
  // The container's own /dev/null (runc binds it after pivot_root): the
  // host's would show the host's devtmpfs in the container's mountinfo.
  const devNull = masked.length ? f.open(root, "dev/null", 0, "resolve /dev/null") : -1;
  const nullPath = masked.length ? f.fdPath(devNull) : -1;
  for (const path of masked) {
    const fd = f.open(root, containerPath(path, "masked path"), 0, `resolve ${path}`, true);
    const at = f.fdPath(fd);
    f.push({
      call: "mount",
      args: [f.at(nullPath), f.at(at), null, MS.BIND, null],
      label: `mask ${path}`,
      tolerate: ["ENOTDIR"],
    });
    f.push({
      call: "mount",
      args: ["tmpfs", f.at(at), "tmpfs", MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, "size=0"],
      label: `mask ${path}`,
      tolerate: ["ENOTDIR"],
    });
    f.close(fd, path);
  }
  if (masked.length) f.close(devNull, "/dev/null");
  for (const path of readonly) {
    const fd = f.open(root, containerPath(path, "read-only path"), 0, `resolve ${path}`, true);
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
    f.close(tree, path);
    f.close(fd, path);
  }
}
