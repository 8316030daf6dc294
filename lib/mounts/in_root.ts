/**
 * Paths inside a container, as plan ops: each is resolved in the child, with
 * the container's root as "/", at the moment it is used, and held as an
 * O_PATH file descriptor from then on (the trampoline's open_in_root op:
 * openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). Nothing names a host
 * path under the rootfs: a symlink the container planted, or swaps while
 * the container starts, cannot turn a mount, a device node or the working
 * directory into a host path (runc's CVE-2021-30465, CVE-2024-21626).
 *
 * The fds are not closed one by one: each is O_CLOEXEC and names something
 * inside the new root, so the command's execve (and the init's close_range)
 * closes them, and a start saves an op per target.
 * @module
 */

import { IN_ROOT, type Op, type Ref } from "../../ffi/plan.ts";
import { ContainerError } from "../errors.ts";

export { IN_ROOT };

/**
 * A plan fragment whose ops refer to earlier ones of the same fragment by
 * position: `at(i)` is valid in the op pushed next, wherever the fragment
 * lands in the plan.
 */
export class Fragment {
  readonly ops: Op[] = [];

  /** Appends an op; returns its index in the fragment. */
  push(op: Op): number {
    return this.ops.push(op) - 1;
  }

  /** A reference, from the op pushed next, to op `index` of this fragment. */
  at(index: number): Ref {
    return { back: this.ops.length - index };
  }

  /**
   * Resolves `inRoot` (see {@link containerPath}) below the root fd of op
   * `root`; with `path` (a {@link pathBuffer}), the child also writes
   * "/proc/self/fd/N" there, for the ops that act on the result by path
   * (mount(2)).
   */
  open(
    root: number,
    inRoot: string,
    flags: number,
    label: string,
    opts: { path?: Uint8Array; tolerateMissing?: boolean } = {},
  ): number {
    return this.push({
      call: "open_in_root",
      args: [this.at(root), inRoot, flags, opts.path ?? null],
      label,
      tolerate: opts.tolerateMissing ? ["ENOENT"] : undefined,
    });
  }

  /** "/proc/self/fd/N" for the fd op `fd` returned (an open_tree's): the path mount(2) takes to act on it. */
  fdPath(fd: number): number {
    return this.push({
      call: "fd_path",
      args: [pathBuffer(), this.at(fd)],
      label: "name the fd",
    });
  }
}

/**
 * A buffer for "/proc/self/fd/N": given to open_in_root and to the ops after
 * it, it is one buffer in the child (ffi/plan.ts).
 */
export function pathBuffer(): Uint8Array {
  return new Uint8Array(32);
}

/**
 * A container path made relative and clean, as the open_in_root op takes it:
 * "." and ".." are removed lexically (docker's filepath.Clean: "/a/../../b"
 * is "b"), so ".." never climbs, and symlinks are left to the resolution in
 * the root. `what` names the path in the error for a relative one.
 */
export function containerPath(path: string, what: string): string {
  if (!path.startsWith("/")) {
    throw new ContainerError(what, path, undefined, "must be an absolute path in the container");
  }
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return parts.join("/");
}

/**
 * {@link containerPath} for something mounted or created on the path: the
 * container's "/" itself is refused (docker: "destination can't be '/'").
 */
export function destinationPath(path: string, what: string): string {
  const inRoot = containerPath(path, what);
  if (inRoot === "") {
    throw new ContainerError(what, path, undefined, "cannot be the container's /");
  }
  return inRoot;
}
