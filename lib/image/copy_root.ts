/**
 * The fallback when overlayfs is unavailable (an old kernel, a store on a
 * file system overlay refuses): the image's layers copied, bottom first,
 * into the container's own directory, whiteouts and opaque directories
 * applied as they go. Slower and uses disk; `run` says so when it happens.
 * @module
 */

import { lchown, lgetxattr } from "../../ffi/libc.ts";
import { fromDenoError } from "../errors.ts";

/** Whether this kernel offers overlayfs (MINICONTAINER_NO_OVERLAY=1 says no, to test the fallback). */
export function overlaySupported(): boolean {
  if (Deno.env.get("MINICONTAINER_NO_OVERLAY") === "1") return false;
  try {
    return /\toverlay\n/.test(Deno.readTextFileSync("/proc/filesystems"));
  } catch {
    return false;
  }
}

/**
 * Whether overlayfs takes `volatile` (Linux 5.10): no sync of the upper file
 * system. Without it, every overlay's unmount (each container's exit) syncs
 * the whole file system holding the data directory, which on a busy host
 * costs the exiting container hundreds of milliseconds. A writable layer is
 * mounted once and thrown away, so what volatile gives up (an upper layer
 * usable after a host crash) is nothing it needs.
 */
export function overlayVolatileSupported(): boolean {
  const [major, minor] = Deno.osRelease().split(".").map(Number);
  return major > 5 || (major === 5 && minor >= 10);
}

function remove(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch { /* nothing there */ }
}

function copyTree(from: string, to: string): void {
  for (const e of Deno.readDirSync(from)) {
    const src = `${from}/${e.name}`;
    const dst = `${to}/${e.name}`;
    const info = Deno.lstatSync(src);
    if (info.isCharDevice && info.rdev === 0) {
      remove(dst); // a whiteout: the lower layers' entry is deleted
      continue;
    }
    if (info.isDirectory) {
      const opaque = lgetxattr(src, "trusted.overlay.opaque");
      if (opaque && new TextDecoder().decode(opaque) === "y") remove(dst);
      let existing: Deno.FileInfo | undefined;
      try {
        existing = Deno.lstatSync(dst);
      } catch { /* new */ }
      if (existing && !existing.isDirectory) remove(dst);
      if (!existing?.isDirectory) Deno.mkdirSync(dst);
      copyTree(src, dst);
      Deno.chmodSync(dst, info.mode! & 0o7777);
    } else {
      remove(dst);
      if (info.isSymlink) Deno.symlinkSync(Deno.readLinkSync(src), dst);
      else if (info.isFile) {
        Deno.copyFileSync(src, dst);
        Deno.chmodSync(dst, info.mode! & 0o7777);
      } else continue; // device nodes: /dev is the container's own tmpfs anyway
    }
    try {
      lchown(dst, info.uid ?? 0, info.gid ?? 0);
    } catch { /* rootless */ }
  }
}

/** Copies `lowerdirs` (top first, as overlayfs takes them) into `rootfs`. */
export function copyLayers(lowerdirs: readonly string[], rootfs: string): void {
  try {
    for (const layer of [...lowerdirs].reverse()) copyTree(layer, rootfs);
  } catch (e) {
    throw fromDenoError("copy image layers into", rootfs, e);
  }
}
