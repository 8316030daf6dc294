/**
 * The child's file-system steps, as plan ops: make the host's mounts private
 * to us, bind the rootfs, open it, then mount /proc, /sys, /dev, the volumes
 * and the masks on it, create the device nodes, then pivot_root into it and
 * detach the old root.
 *
 * Every target is resolved in the child, inside the rootfs and after the
 * mounts before it (a later target may lie in an earlier volume whose
 * content the container controls), and mounted through its fd
 * (./in_root.ts): no op names a host path under the rootfs. /proc is
 * mounted by the child, already inside the new PID namespace.
 * @module
 */

import type { Op, Ref } from "../../ffi/plan.ts";
import { K, makedev, MOUNT_ATTR_SIZE, MS } from "../../ffi/syscalls.ts";
import type { Device } from "../spec.ts";
import { containerPath, Fragment, IN_ROOT, pathBuffer } from "./in_root.ts";
import { type MaskedPath, maskOps, sysctlOps } from "./masks.ts";
import { mountAttr } from "./options.ts";
import type { PreparedMount } from "./prepare.ts";

/** Symlinks every /dev gets, as runc makes them (name in /dev, target). */
const DEV_LINKS: readonly [string, string][] = [
  ["fd", "/proc/self/fd"],
  ["stdin", "/proc/self/fd/0"],
  ["stdout", "/proc/self/fd/1"],
  ["stderr", "/proc/self/fd/2"],
];

const S_IF: Record<Device["type"], number> = {
  c: K.S_IFCHR,
  u: K.S_IFCHR,
  b: 0o060000,
  p: 0o010000,
};

const MOVE_EMPTY = K.MOVE_MOUNT_F_EMPTY_PATH | K.MOVE_MOUNT_T_EMPTY_PATH;

/**
 * Mounts one prepared mount on its target, resolved (and created) below the
 * root fd of op `root`. A bind is a detached copy of the source tree
 * (open_tree; for an idmapped bind, the copy the runtime made and
 * idmapped: `m.treeFd`, inherited) moved onto the target's fd, then
 * remounted through the copy's own fd: the flags reach exactly that mount.
 * Recursive attributes (rro, rnoexec...) come last, with mount_setattr(2)
 * on the whole tree: a remount after them would reset the top mount's.
 */
export function mountOps(f: Fragment, root: number, m: PreparedMount): void {
  // "/" is refused by name (prepareMounts); NOT_ROOT refuses a symlink to it.
  const flags = IN_ROOT.MKDIR | IN_ROOT.NOT_ROOT | (m.fileTarget ? IN_ROOT.FILE : 0);
  const label = `resolve ${m.destination} in the container`;
  if (!m.bind) {
    const path = pathBuffer();
    f.open(root, m.inRoot, flags, label, { path });
    f.push({
      call: "mount",
      args: [m.source, path, m.type, m.flags, m.data],
      label: `mount ${m.type ?? m.source} on ${m.destination}${
        m.data ? ` with file-system options ${m.data}` : ""
      }`,
    });
    if (m.propagation || m.recursive) {
      // The target's fd is the directory under the new mount, not the
      // mount: look the mount up again. Propagation and mount attributes
      // are all this can change (the file system is in place already),
      // and only inside the root.
      const mounted = pathBuffer();
      const top = f.open(root, m.inRoot, IN_ROOT.NOT_ROOT, `resolve ${m.destination} again`, {
        path: mounted,
      });
      if (m.recursive) recursiveAttrOp(f, f.at(top), "", K.AT_EMPTY_PATH, m);
      if (m.propagation) {
        f.push({
          call: "mount",
          args: [null, mounted, null, m.propagation, null],
          label: `set propagation of ${m.destination}`,
        });
      }
    }
    return;
  }
  const target = f.open(root, m.inRoot, flags, label);
  const tree = m.treeFd !== undefined ? -1 : f.push({
    call: "open_tree",
    args: [
      K.AT_FDCWD,
      m.source,
      K.OPEN_TREE_CLONE | K.O_CLOEXEC | (m.flags & MS.REC ? K.AT_RECURSIVE : 0),
    ],
    label: `open ${m.source} to bind on ${m.destination}`,
  });
  const treeArg = () => m.treeFd ?? f.at(tree);
  f.push({
    call: "move_mount",
    args: [treeArg(), "", f.at(target), "", MOVE_EMPTY],
    label: `bind ${m.source} on ${m.destination}`,
  });
  // A bind ignores every flag but MS_BIND|MS_REC: the rest needs a remount.
  const extra = m.flags & ~(MS.BIND | MS.REC);
  if (!extra && !m.propagation && !m.recursive) return;
  const path = f.push({
    call: "fd_path",
    args: [pathBuffer(), treeArg()],
    label: "name the fd",
  });
  if (extra) {
    f.push({
      call: "mount",
      args: [null, f.at(path), null, MS.BIND | MS.REMOUNT | extra, null],
      label: `remount ${m.destination}${extra & MS.RDONLY ? " read-only" : ""}`,
    });
  }
  if (m.recursive) recursiveAttrOp(f, treeArg(), "", K.AT_EMPTY_PATH, m);
  if (m.propagation) {
    f.push({
      call: "mount",
      args: [null, f.at(path), null, m.propagation, null],
      label: `set propagation of ${m.destination}`,
    });
  }
}

/**
 * mount_setattr(2) with AT_RECURSIVE: the mount's recursive attributes on
 * it and every mount below it. Its label names the options and the kernel
 * they need, the words of the error where the kernel lacks the call.
 */
function recursiveAttrOp(
  f: Fragment,
  dirFd: number | Ref,
  path: string,
  atFlags: number,
  m: PreparedMount,
): void {
  const r = m.recursive!;
  f.push({
    call: "mount_setattr",
    args: [dirFd, path, atFlags | K.AT_RECURSIVE, mountAttr(r.set, r.clear), MOUNT_ATTR_SIZE],
    label: `apply ${r.options.join(",")} to ${m.destination} and the mounts below it ` +
      "(mount_setattr, Linux 5.12 or later)",
  });
}

/**
 * Creates the device nodes (or, in a user namespace where mknod is refused,
 * binds the host's) and the /dev symlinks, each directory resolved once
 * below the root fd of op `root`.
 */
export function deviceOps(
  f: Fragment,
  root: number,
  devices: readonly Device[],
  withPts: boolean,
  bind = false,
): void {
  const byDir = new Map<string, { name: string; device?: Device; link?: string }[]>();
  const add = (inRoot: string, entry: { device?: Device; link?: string }) => {
    const cut = inRoot.lastIndexOf("/");
    const dir = cut < 0 ? "" : inRoot.slice(0, cut);
    if (!byDir.has(dir)) byDir.set(dir, []);
    byDir.get(dir)!.push({ name: inRoot.slice(cut + 1), ...entry });
  };
  for (const d of devices) add(containerPath(d.path, "device"), { device: d });
  const links = withPts ? [...DEV_LINKS, ["ptmx", "pts/ptmx"] as [string, string]] : DEV_LINKS;
  for (const [name, to] of links) add(`dev/${name}`, { link: to });
  for (const [dir, entries] of byDir) {
    const fd = f.open(root, dir, IN_ROOT.MKDIR, `resolve /${dir} in the container`);
    for (const { name, device: d, link } of entries) {
      if (link) {
        f.push({
          call: "symlinkat",
          args: [link, f.at(fd), name],
          label: `symlink /${dir}/${name} -> ${link}`,
          tolerate: ["EEXIST"],
        });
      } else if (d && !bind) {
        // One component below a resolved directory: mknodat never follows
        // a symlink there (EEXIST), so the node lands in the container.
        f.push({
          call: "mknodat",
          args: [
            f.at(fd),
            name,
            S_IF[d.type] | (d.fileMode ?? 0o666),
            makedev(d.major ?? 0, d.minor ?? 0),
          ],
          label: `mknod ${d.path}`,
          tolerate: ["EEXIST"],
        });
      } else if (d) {
        const path = pathBuffer();
        f.open(
          root,
          dir ? `${dir}/${name}` : name,
          IN_ROOT.MKDIR | IN_ROOT.FILE,
          `create ${d.path}`,
          { path },
        );
        f.push({
          call: "mount",
          args: [d.path, path, null, MS.BIND, null],
          label: `bind ${d.path} from the host`,
        });
      }
    }
  }
}

/** Input of {@link rootfsOps}. */
export interface RootfsPlan {
  /** Host path of the root filesystem. */
  rootfs: string;
  /** Mounts in order, prepared. */
  mounts: readonly PreparedMount[];
  /** Device nodes to create under /dev. */
  devices: readonly Device[];
  /** Make the root itself read-only once everything is mounted on it. */
  readonly: boolean;
  /** Bind device nodes from the host instead of mknod (user namespaces). */
  bindDevices?: boolean;
  /** An image's root: an overlayfs mounted on `rootfs` first, in the container's namespace. */
  overlay?: RootOverlay;
  /** spec.linux.maskedPaths, classified: hidden once everything is mounted. */
  masked?: readonly MaskedPath[];
  /** spec.linux.readonlyPaths: made read-only once everything is mounted. */
  readonlyPaths?: readonly string[];
  /** spec.linux.sysctl: written once /proc is mounted, before it is made read-only. */
  sysctl?: Record<string, string>;
  /**
   * Ops run once the mounts and devices are in place, before the masks, the
   * read-only remount and pivot_root (OCI createContainer hooks, as runc
   * places them): self-contained, they refer to no op of this fragment.
   */
  beforePivot?: readonly Op[];
}

/** The directories of an overlayfs root. */
export interface RootOverlay {
  /** Read-only layers, top first. */
  lower: readonly string[];
  /** The container's writable layer: on disk, in the container's own directory. */
  upper: string;
  work: string;
  /**
   * Mounted in a user namespace: overlayfs must keep its marks (opaque
   * directories) in user.overlay.* xattrs, trusted.* being out of its reach;
   * without, removing a directory of a lower layer fails with EIO.
   */
  userxattr?: boolean;
  /** No syncs of the upper file system (the layer is thrown away, never remounted). */
  volatile?: boolean;
}

/** The whole file-system part of the plan, ending inside the new root at "/". */
export function rootfsOps(p: RootfsPlan): Op[] {
  const { rootfs } = p;
  const f = new Fragment();
  // Without this, mounts below would propagate to the host's shared "/".
  f.push({
    call: "mount",
    args: [null, "/", null, MS.REC | MS.PRIVATE, null],
    label: "make / rprivate",
  });
  // The overlay's and rootfs's paths are the runtime's own directories: the
  // container's files lie inside them, never on their way, so host paths are
  // right for them.
  if (p.overlay) {
    // In the container's own namespace: it goes away with the container.
    f.push({
      call: "mount",
      args: [
        "overlay",
        rootfs,
        "overlay",
        0,
        `lowerdir=${
          p.overlay.lower.join(":")
        },upperdir=${p.overlay.upper},workdir=${p.overlay.work}${
          p.overlay.userxattr ? ",userxattr" : ""
        }${p.overlay.volatile ? ",volatile" : ""}`,
      ],
      label: `mount the image's overlay on ${rootfs}`,
    });
  }
  f.push({
    call: "mount",
    args: [rootfs, rootfs, null, MS.BIND | MS.REC, null],
    label: `bind rootfs ${rootfs}`,
  });
  const root = f.push({
    call: "openat",
    args: [K.AT_FDCWD, rootfs, K.O_PATH | K.O_DIRECTORY | K.O_CLOEXEC],
    label: `open rootfs ${rootfs}`,
  });
  for (const m of p.mounts) mountOps(f, root, m);
  // After every mount, as runc does: a node is never hidden under a later
  // mount (a --device target in /tmp stays visible). A /dev bound from the
  // host (-v /dev:/dev) is the host's own: nothing is made in it (runc's rule).
  const devBound = p.mounts.some((m) => m.inRoot === "dev" && m.bind);
  if (!devBound && (p.devices.length || p.mounts.some((m) => m.inRoot === "dev"))) {
    deviceOps(
      f,
      root,
      p.devices,
      p.mounts.some((m) => m.inRoot === "dev/pts"),
      p.bindDevices,
    );
  }
  for (const op of p.beforePivot ?? []) f.push(op);
  if (p.sysctl && Object.keys(p.sysctl).length) sysctlOps(f, root, p.sysctl);
  maskOps(f, root, p.masked ?? [], p.readonlyPaths ?? []);
  if (p.readonly) {
    const path = f.fdPath(root);
    f.push({
      call: "mount",
      args: [null, f.at(path), null, MS.BIND | MS.REMOUNT | MS.RDONLY, null],
      label: "remount / read-only",
    });
  }
  f.push({ call: "fchdir", args: [f.at(root)], label: `chdir ${rootfs}` });
  // pivot_root(".", ".") stacks the old root on the new one; detaching it
  // leaves no directory behind for the old root.
  f.push({ call: "pivot_root", args: [".", "."], label: `pivot_root ${rootfs}` });
  f.push({ call: "umount2", args: [".", K.MNT_DETACH], label: "detach old root" });
  f.push({ call: "chdir", args: ["/"], label: "chdir /" });
  return f.ops;
}

/**
 * The working directory: created if missing (`create`) and entered through
 * its fd, resolved in the container's root (after pivot_root or setns, "/").
 * A magic link (/proc/self/fd/N: an fd the runtime still held, runc's
 * CVE-2024-21626) is refused.
 */
export function workdirOps(cwd: string, create = true): Op[] {
  const inRoot = containerPath(cwd, "working directory");
  if (inRoot === "") return [{ call: "chdir", args: ["/"], label: "chdir /" }];
  const f = new Fragment();
  const root = f.push({
    call: "openat",
    args: [K.AT_FDCWD, "/", K.O_PATH | K.O_DIRECTORY | K.O_CLOEXEC],
    label: "open /",
  });
  const dir = f.open(
    root,
    inRoot,
    create ? IN_ROOT.MKDIR : 0,
    `${create ? "create" : "resolve"} working directory ${cwd}`,
  );
  f.push({ call: "fchdir", args: [f.at(dir)], label: `chdir ${cwd}` });
  return f.ops;
}
