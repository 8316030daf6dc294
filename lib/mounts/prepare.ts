/**
 * The host-side reading that mount planning needs: whether a bind source
 * exists and is a file, and each destination checked and made a clean path
 * inside the container. Targets themselves are resolved in the child, in
 * the container's root, when they are used (./in_root.ts). Everything here
 * may fail on bad input, before anything is created.
 * @module
 */

import { ContainerError, fromDenoError } from "../errors.ts";
import type { Device, Mount } from "../spec.ts";
import { destinationPath } from "./in_root.ts";
import { type MountFlags, parseMountOptions } from "./options.ts";

/** A mount with its destination checked and its options parsed. */
export interface PreparedMount extends MountFlags {
  /** The path inside the container, for messages. */
  destination: string;
  /** The destination relative to the container's root, clean ("dev/pts"). */
  inRoot: string;
  source: string | null;
  type: string | null;
  /** A bind of something that is not a directory: the target is created as a file. */
  fileTarget: boolean;
}

/** Checks and parses `mounts`; throws a ContainerError for a bad destination or a missing bind source. */
export function prepareMounts(mounts: readonly Mount[]): PreparedMount[] {
  return mounts.map((m) => {
    const inRoot = destinationPath(m.destination, "mount destination");
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
    return {
      ...parsed,
      destination: m.destination,
      inRoot,
      source: m.source ?? null,
      type: m.type ?? null,
      fileTarget,
    };
  });
}

/** Checks every device's path inside the container; throws for a relative one or "/". */
export function checkDevices(devices: readonly Device[]): void {
  for (const d of devices) destinationPath(d.path, "device");
}
