/**
 * Turns OCI mount options ("ro", "nosuid", "mode=755", "rbind") into
 * mount(2) flags and the data string the filesystem parses.
 * @module
 */

import { MS } from "../../ffi/syscalls.ts";

/** What a list of mount options means to mount(2). */
export interface MountFlags {
  /** MS_* flags for the mount itself. */
  flags: number;
  /** Filesystem-specific options, comma-joined; null when none. */
  data: string | null;
  /** A bind mount (bind or rbind). */
  bind: boolean;
  /** Propagation to apply with its own mount call (MS_PRIVATE, MS_SLAVE...), or 0. */
  propagation: number;
}

const SET: Record<string, number> = {
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  strictatime: MS.STRICTATIME,
  noatime: 1024,
  nodiratime: 2048,
  relatime: 1 << 21,
  sync: 16,
  dirsync: 128,
  mand: 64,
};
const CLEAR: Record<string, number> = {
  rw: MS.RDONLY,
  suid: MS.NOSUID,
  dev: MS.NODEV,
  exec: MS.NOEXEC,
  atime: 1024,
  async: 16,
  defaults: 0,
};
const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  shared: 1 << 20,
  rshared: (1 << 20) | MS.REC,
  unbindable: 1 << 17,
  runbindable: (1 << 17) | MS.REC,
};

/** Parses OCI mount options. */
export function parseMountOptions(options: readonly string[] = []): MountFlags {
  let flags = 0;
  let propagation = 0;
  let bind = false;
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
    else data.push(opt);
  }
  return { flags, data: data.length ? data.join(",") : null, bind, propagation };
}
