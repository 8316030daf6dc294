/**
 * The host-side reading that mount planning needs: where each mount target
 * really is inside the rootfs, whether a bind source exists and is a file.
 * Everything here may fail on bad input, before anything is created.
 * @module
 */

import { ContainerError, fromDenoError } from "../errors.ts";
import type { Mount } from "../spec.ts";
import { type MountFlags, parseMountOptions } from "./options.ts";
import { secureJoin } from "./secure_join.ts";

/** A mount with its target resolved on the host and its options parsed. */
export interface PreparedMount extends MountFlags {
  /** The path inside the container, for messages. */
  destination: string;
  /** The host path under the rootfs the mount goes on. */
  target: string;
  /** Directories to create, outermost first (each may exist already). */
  parents: string[];
  source: string | null;
  type: string | null;
  /** A bind of something that is not a directory: the target is created as a file. */
  fileTarget: boolean;
}

/** Resolves `mounts` against `rootfs`; throws a ContainerError for a missing bind source. */
export function prepareMounts(rootfs: string, mounts: readonly Mount[]): PreparedMount[] {
  return mounts.map((m) => {
    if (!m.destination.startsWith("/")) {
      throw new ContainerError("mount", m.destination, undefined, "destination must be absolute");
    }
    const parsed = parseMountOptions(m.options);
    let fileTarget = false;
    if (parsed.bind) {
      if (!m.source) throw new ContainerError("bind mount", m.destination, undefined, "no source");
      try {
        fileTarget = !Deno.statSync(m.source).isDirectory;
      } catch (e) {
        throw fromDenoError(`bind mount source for ${m.destination}:`, m.source, e);
      }
    }
    const target = secureJoin(rootfs, m.destination);
    const rel = target.slice(rootfs.length).split("/").filter(Boolean);
    const parents: string[] = [];
    for (let k = 1; k <= (fileTarget ? rel.length - 1 : rel.length); k++) {
      parents.push(`${rootfs}/${rel.slice(0, k).join("/")}`);
    }
    return {
      ...parsed,
      destination: m.destination,
      target,
      parents,
      source: m.source ?? null,
      type: m.type ?? null,
      fileTarget,
    };
  });
}
