/**
 * Masked and read-only paths (spec.linux.maskedPaths/readonlyPaths), as
 * runc applies them after pivot_root: /dev/null bound over a masked file,
 * an empty read-only tmpfs over a masked directory, and a read-only bind of
 * each read-only path onto itself. Paths the kernel does not have are
 * skipped (ENOENT tolerated).
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { MS } from "../../ffi/syscalls.ts";

/** A masked path and whether it is a directory (which a file bind cannot cover). */
export interface MaskedPath {
  path: string;
  dir: boolean;
}

/**
 * Classifies masked paths by looking at the host's own /proc and /sys: the
 * container's are the same kernel's, mounted the same way.
 */
export function classifyMaskedPaths(paths: readonly string[]): MaskedPath[] {
  const out: MaskedPath[] = [];
  for (const path of paths) {
    try {
      out.push({ path, dir: Deno.statSync(path).isDirectory });
    } catch {
      // Not on this kernel: nothing to hide.
    }
  }
  return out;
}

/** Ops masking and write-protecting paths; run after pivot_root, with /dev populated. */
export function maskOps(masked: readonly MaskedPath[], readonly: readonly string[]): Op[] {
  const ops: Op[] = [];
  for (const { path, dir } of masked) {
    ops.push(
      dir
        ? {
          call: "mount",
          args: ["tmpfs", path, "tmpfs", MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, "size=0"],
          label: `mask ${path}`,
          tolerate: ["ENOENT"],
        }
        : {
          call: "mount",
          args: ["/dev/null", path, null, MS.BIND, null],
          label: `mask ${path}`,
          tolerate: ["ENOENT"],
        },
    );
  }
  for (const path of readonly) {
    ops.push(
      {
        call: "mount",
        args: [path, path, null, MS.BIND | MS.REC, null],
        label: `bind ${path} for read-only`,
        tolerate: ["ENOENT"],
      },
      {
        call: "mount",
        args: [
          null,
          path,
          null,
          MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
          null,
        ],
        label: `remount ${path} read-only`,
        tolerate: ["ENOENT", "EINVAL"],
      },
    );
  }
  return ops;
}
