/**
 * The child's file-system steps, as plan ops: make the host's mounts private
 * to us, bind the rootfs, mount /proc, /sys, /dev and the rest on it, create
 * the device nodes, then pivot_root into it and detach the old root.
 *
 * Everything is mounted at its host path under the rootfs before the pivot,
 * so the same ops serve every mount; /proc is mounted by the child, already
 * inside the new PID namespace.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { K, makedev, MS } from "../../ffi/syscalls.ts";
import type { Device } from "../spec.ts";
import type { PreparedMount } from "./prepare.ts";

/** Symlinks every /dev gets, as runc makes them. */
const DEV_LINKS: readonly [string, string][] = [
  ["/proc/self/fd", "/dev/fd"],
  ["/proc/self/fd/0", "/dev/stdin"],
  ["/proc/self/fd/1", "/dev/stdout"],
  ["/proc/self/fd/2", "/dev/stderr"],
];

const S_IF: Record<Device["type"], number> = {
  c: K.S_IFCHR,
  u: K.S_IFCHR,
  b: 0o060000,
  p: 0o010000,
};

function mkdirOps(paths: readonly string[], rootfs: string): Op[] {
  return paths.map((p) => ({
    call: "mkdirat",
    args: [K.AT_FDCWD, p, 0o755],
    label: `mkdir ${p.slice(rootfs.length)}`,
    tolerate: ["EEXIST"],
  }));
}

/** Ops that mount one prepared mount (and apply ro/propagation after a bind). */
export function mountOps(m: PreparedMount, rootfs: string): Op[] {
  const ops: Op[] = mkdirOps(m.parents, rootfs);
  if (m.fileTarget) {
    ops.push({
      call: "openat",
      args: [K.AT_FDCWD, m.target, K.O_WRONLY | K.O_CREAT | K.O_CLOEXEC, 0o644],
      label: `create mount target ${m.destination}`,
    });
    ops.push({ call: "close", args: [{ back: 1 }], label: `close ${m.destination}` });
  }
  const what = m.bind ? `bind ${m.source}` : `mount ${m.type ?? m.source}`;
  ops.push({
    call: "mount",
    args: [m.source, m.target, m.type, m.flags, m.data],
    label: `${what} on ${m.destination}`,
  });
  // A bind ignores every flag but MS_BIND|MS_REC: the rest needs a remount.
  const extra = m.flags & ~(MS.BIND | MS.REC);
  if (m.bind && extra) {
    ops.push({
      call: "mount",
      args: [null, m.target, null, MS.BIND | MS.REMOUNT | extra, null],
      label: `remount ${m.destination}${extra & MS.RDONLY ? " read-only" : ""}`,
    });
  }
  if (m.propagation) {
    ops.push({
      call: "mount",
      args: [null, m.target, null, m.propagation, null],
      label: `set propagation of ${m.destination}`,
    });
  }
  return ops;
}

/**
 * Ops creating the device nodes and /dev symlinks (after /dev is mounted).
 * In a user namespace mknod is refused: `bind` binds the host's nodes instead.
 */
export function deviceOps(
  rootfs: string,
  devices: readonly Device[],
  withPts: boolean,
  bind = false,
): Op[] {
  const ops: Op[] = [];
  for (const d of devices) {
    const target = `${rootfs}${d.path}`;
    if (!bind) {
      ops.push({
        call: "mknodat",
        args: [
          K.AT_FDCWD,
          target,
          S_IF[d.type] | (d.fileMode ?? 0o666),
          makedev(d.major ?? 0, d.minor ?? 0),
        ],
        label: `mknod ${d.path}`,
        tolerate: ["EEXIST"],
      });
      continue;
    }
    ops.push(
      {
        call: "openat",
        args: [K.AT_FDCWD, target, K.O_WRONLY | K.O_CREAT | K.O_CLOEXEC, 0o644],
        label: `create ${d.path}`,
      },
      { call: "close", args: [{ back: 1 }], label: `close ${d.path}` },
      {
        call: "mount",
        args: [d.path, target, null, MS.BIND, null],
        label: `bind ${d.path} from the host`,
      },
    );
  }
  const links = withPts ? [...DEV_LINKS, ["pts/ptmx", "/dev/ptmx"] as [string, string]] : DEV_LINKS;
  for (const [to, at] of links) {
    ops.push({
      call: "symlinkat",
      args: [to, K.AT_FDCWD, `${rootfs}${at}`],
      label: `symlink ${at} -> ${to}`,
      tolerate: ["EEXIST"],
    });
  }
  return ops;
}

/** Input of {@link rootfsOps}. */
export interface RootfsPlan {
  /** Host path of the root filesystem. */
  rootfs: string;
  /** Mounts in order, prepared against the rootfs. */
  mounts: readonly PreparedMount[];
  /** Device nodes to create under /dev. */
  devices: readonly Device[];
  /** Make the root itself read-only once everything is mounted on it. */
  readonly: boolean;
  /** Bind device nodes from the host instead of mknod (user namespaces). */
  bindDevices?: boolean;
  /** An image's root: an overlayfs mounted on `rootfs` first, in the container's namespace. */
  overlay?: RootOverlay;
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
  const ops: Op[] = [
    {
      // Without this, mounts below would propagate to the host's shared "/".
      call: "mount",
      args: [null, "/", null, MS.REC | MS.PRIVATE, null],
      label: "make / rprivate",
    },
  ];
  if (p.overlay) {
    // In the container's own namespace: it goes away with the container.
    ops.push({
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
  ops.push(
    {
      call: "mount",
      args: [rootfs, rootfs, null, MS.BIND | MS.REC, null],
      label: `bind rootfs ${rootfs}`,
    },
  );
  let devicesDone = false;
  for (const m of p.mounts) {
    ops.push(...mountOps(m, rootfs));
    if (
      m.destination === "/dev/pts" ||
      (m.destination === "/dev" && !p.mounts.some((x) => x.destination === "/dev/pts"))
    ) {
      ops.push(...deviceOps(rootfs, p.devices, m.destination === "/dev/pts", p.bindDevices));
      devicesDone = true;
    }
  }
  if (!devicesDone && p.devices.length) {
    ops.push(...deviceOps(rootfs, p.devices, false, p.bindDevices));
  }
  if (p.readonly) {
    ops.push({
      call: "mount",
      args: [null, rootfs, null, MS.BIND | MS.REMOUNT | MS.RDONLY, null],
      label: "remount / read-only",
    });
  }
  ops.push(
    { call: "chdir", args: [rootfs], label: `chdir ${rootfs}` },
    // pivot_root(".", ".") stacks the old root on the new one; detaching it
    // leaves no directory behind for the old root.
    { call: "pivot_root", args: [".", "."], label: `pivot_root ${rootfs}` },
    { call: "umount2", args: [".", K.MNT_DETACH], label: "detach old root" },
    { call: "chdir", args: ["/"], label: "chdir /" },
  );
  return ops;
}
