/**
 * Turns OCI mount options ("ro", "nosuid", "mode=755", "rbind", "rro",
 * "idmap") into mount(2) flags, the recursive attributes mount_setattr(2)
 * applies, and the data string the filesystem parses.
 * @module
 */

import { MOUNT_ATTR, MS } from "../../ffi/syscalls.ts";

/** What a list of mount options means to mount(2) and mount_setattr(2). */
export interface MountFlags {
  /** MS_* flags for the mount itself. */
  flags: number;
  /** Filesystem-specific options, comma-joined; null when none. */
  data: string | null;
  /** A bind mount (bind or rbind). */
  bind: boolean;
  /** Propagation to apply with its own mount call (MS_PRIVATE, MS_SLAVE...), or 0. */
  propagation: number;
  /**
   * Recursive attributes (rro, rnoexec, ...) for mount_setattr(2) with
   * AT_RECURSIVE: set and clear masks of MOUNT_ATTR_* bits; absent when none.
   */
  recursive?: { set: number; clear: number; options: string[] };
  /** "idmap" (the mount itself) or "ridmap" (its submounts too); absent when neither. */
  idmap?: "idmap" | "ridmap";
}

const SET: Record<string, number> = {
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  strictatime: MS.STRICTATIME,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
  sync: MS.SYNCHRONOUS,
  dirsync: MS.DIRSYNC,
  mand: MS.MANDLOCK,
  nosymfollow: MS.NOSYMFOLLOW,
  iversion: MS.I_VERSION,
  lazytime: MS.LAZYTIME,
  silent: MS.SILENT,
};
const CLEAR: Record<string, number> = {
  rw: MS.RDONLY,
  suid: MS.NOSUID,
  dev: MS.NODEV,
  exec: MS.NOEXEC,
  atime: MS.NOATIME,
  diratime: MS.NODIRATIME,
  async: MS.SYNCHRONOUS,
  nomand: MS.MANDLOCK,
  norelatime: MS.RELATIME,
  nostrictatime: MS.STRICTATIME,
  symfollow: MS.NOSYMFOLLOW,
  noiversion: MS.I_VERSION,
  nolazytime: MS.LAZYTIME,
  loud: MS.SILENT,
  defaults: 0,
};
const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

const A = MOUNT_ATTR;
/**
 * Recursive attributes: bits to set and to clear. The atime mode is one
 * value in MOUNT_ATTR__ATIME, so each atime option clears the whole field
 * and sets its mode; the options undoing one (ratime, rnostrictatime) go
 * back to the kernel's default, relatime, and rnorelatime means full atime
 * updates (strictatime).
 */
const RECURSIVE: Record<string, { set: number; clear: number }> = {
  rro: { set: A.RDONLY, clear: 0 },
  rrw: { set: 0, clear: A.RDONLY },
  rnosuid: { set: A.NOSUID, clear: 0 },
  rsuid: { set: 0, clear: A.NOSUID },
  rnodev: { set: A.NODEV, clear: 0 },
  rdev: { set: 0, clear: A.NODEV },
  rnoexec: { set: A.NOEXEC, clear: 0 },
  rexec: { set: 0, clear: A.NOEXEC },
  rnodiratime: { set: A.NODIRATIME, clear: 0 },
  rdiratime: { set: 0, clear: A.NODIRATIME },
  rnosymfollow: { set: A.NOSYMFOLLOW, clear: 0 },
  rsymfollow: { set: 0, clear: A.NOSYMFOLLOW },
  rrelatime: { set: A.RELATIME, clear: A._ATIME },
  rnorelatime: { set: A.STRICTATIME, clear: A._ATIME },
  rnoatime: { set: A.NOATIME, clear: A._ATIME },
  ratime: { set: A.RELATIME, clear: A._ATIME },
  rstrictatime: { set: A.STRICTATIME, clear: A._ATIME },
  rnostrictatime: { set: A.RELATIME, clear: A._ATIME },
};

/** Every option this runtime acts on itself (the rest go to the file system as data). */
export const KNOWN_MOUNT_OPTIONS: readonly string[] = [
  "bind",
  "rbind",
  ...Object.keys(SET),
  ...Object.keys(CLEAR),
  ...Object.keys(PROPAGATION),
  ...Object.keys(RECURSIVE),
].sort();

/** Parses OCI mount options; later options override earlier ones (rro then rrw is rw). */
export function parseMountOptions(options: readonly string[] = []): MountFlags {
  let flags = 0;
  let propagation = 0;
  let bind = false;
  let idmap: MountFlags["idmap"];
  let recursive: MountFlags["recursive"];
  const data: string[] = [];
  for (const opt of options) {
    if (opt === "bind") {
      bind = true;
      flags |= MS.BIND;
    } else if (opt === "rbind") {
      bind = true;
      flags |= MS.BIND | MS.REC;
    } else if (opt in SET) flags |= SET[opt];
    else if (opt in CLEAR) flags &= ~CLEAR[opt];
    else if (opt in PROPAGATION) propagation = PROPAGATION[opt];
    else if (opt in RECURSIVE) {
      const r = RECURSIVE[opt];
      recursive ??= { set: 0, clear: 0, options: [] };
      // A later option wins: its bits leave the other mask (the atime
      // field stays in `clear` whole, as the kernel requires).
      recursive.set = (recursive.set & ~r.clear) | r.set;
      recursive.clear = (recursive.clear & ~r.set) | r.clear;
      if (recursive.clear & A._ATIME) recursive.clear |= A._ATIME;
      recursive.options.push(opt);
    } else if (opt === "idmap" || opt === "ridmap") idmap = opt;
    else data.push(opt);
  }
  return {
    flags,
    data: data.length ? data.join(",") : null,
    bind,
    propagation,
    ...(recursive ? { recursive } : {}),
    ...(idmap ? { idmap } : {}),
  };
}

/** struct mount_attr for mount_setattr(2): 32 bytes, little-endian u64 fields. */
export function mountAttr(set: number, clear: number, usernsFd = 0): Uint8Array {
  const bytes = new Uint8Array(32);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(set), true);
  view.setBigUint64(8, BigInt(clear), true);
  view.setBigUint64(24, BigInt(usernsFd), true);
  return bytes;
}
