/**
 * The host-side reading that mount planning needs: where each mount target
 * really is inside the rootfs, whether a bind source exists and is a file.
 * Everything here may fail on bad input, before anything is created.
 * @module
 */

import { ContainerError, fromDenoError } from "../errors.ts";
import type { Mount } from "../spec.ts";
import { type MountFlags, parseMountOptions } from "./options.ts";
import { layeredLinks, secureJoin } from "./secure_join.ts";

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

/** The innermost earlier non-bind mount (a fresh, empty file system) holding `dest`. */
function freshParent(dest: string, fresh: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const f of fresh) {
    if (dest.startsWith(f === "/" ? f : `${f}/`) && (!best || f.length > best.length)) best = f;
  }
  return best;
}

/**
 * Resolves `mounts` against `rootfs`; throws a ContainerError for a missing
 * bind source. A destination inside a file system mounted fresh by an earlier
 * mount (/dev/pts inside /dev's tmpfs) holds no rootfs symlinks, so it is
 * taken literally: no host lookups for it, which keeps this cheap.
 */
export function prepareMounts(
  rootfs: string,
  mounts: readonly Mount[],
  layers?: readonly string[],
): PreparedMount[] {
  // An image's root is an overlay mounted later, in the container: its
  // symlinks are read from the layers.
  const links = layers ? layeredLinks(layers) : undefined;
  const fresh: string[] = [];
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
    const inside = freshParent(m.destination, fresh);
    const target = inside ? `${rootfs}${m.destination}` : secureJoin(rootfs, m.destination, links);
    if (!parsed.bind) fresh.push(m.destination.replace(/\/+$/, "") || "/");
    const rel = target.slice(rootfs.length).split("/").filter(Boolean);
    const parents: string[] = [];
    const first = inside ? inside.split("/").filter(Boolean).length + 1 : 1;
    for (let k = first; k <= (fileTarget ? rel.length - 1 : rel.length); k++) {
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
