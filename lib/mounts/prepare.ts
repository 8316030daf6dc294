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
import { closeFd } from "../../ffi/libc.ts";
import { MS } from "../../ffi/syscalls.ts";
import { idmappedTree, type MountIdMaps } from "./idmap.ts";
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
  /**
   * An idmapped bind: the runtime's fd of the detached, idmapped copy of
   * the source (./idmap.ts), which the child inherits and moves in place.
   */
  treeFd?: number;
}

/**
 * Checks and parses `mounts`; throws a ContainerError for a bad destination,
 * a missing bind source or an option the mount cannot take. An idmapped
 * bind is made here (see ./idmap.ts), with the mount's own maps or, without
 * any, `userns` (the container's); its fd is the caller's to close once
 * the child is cloned ({@link closeMountFds}).
 */
export function prepareMounts(
  mounts: readonly (Mount & Partial<MountIdMaps>)[],
  userns?: Partial<MountIdMaps>,
): PreparedMount[] {
  const prepared: PreparedMount[] = [];
  try {
    for (const m of mounts) prepared.push(prepareMount(m, userns));
  } catch (e) {
    closeMountFds(prepared);
    throw e;
  }
  return prepared;
}

function prepareMount(
  m: Mount & Partial<MountIdMaps>,
  userns?: Partial<MountIdMaps>,
): PreparedMount {
  const inRoot = destinationPath(m.destination, "mount destination");
  const parsed = parseMountOptions(m.options);
  let fileTarget = false;
  if (parsed.bind) {
    if (parsed.data) {
      // mount(2) ignores the data of a bind: an unknown option would vanish.
      throw new ContainerError(
        `mount ${m.destination}`,
        undefined,
        undefined,
        `unknown option ${
          parsed.data.split(",").join(", ")
        } (a bind mount takes no file-system options)`,
      );
    }
    if (!m.source) throw new ContainerError("bind mount", m.destination, undefined, "no source");
    try {
      fileTarget = !Deno.statSync(m.source).isDirectory;
    } catch (e) {
      throw fromDenoError(`bind mount source for ${m.destination}:`, m.source, e);
    }
  }
  let treeFd: number | undefined;
  if (parsed.idmap) {
    if (!parsed.bind || !m.source) {
      throw new ContainerError(
        `mount ${m.destination}`,
        undefined,
        undefined,
        `option ${parsed.idmap} needs a bind mount`,
      );
    }
    const own = m.uidMappings?.length || m.gidMappings?.length;
    const maps = own ? m : userns;
    if (!maps?.uidMappings?.length || !maps?.gidMappings?.length) {
      throw new ContainerError(
        `mount ${m.destination}`,
        undefined,
        undefined,
        own
          ? `option ${parsed.idmap} needs both uidMappings and gidMappings on the mount`
          : `option ${parsed.idmap} needs uidMappings and gidMappings on the mount or a user namespace with maps`,
      );
    }
    treeFd = idmappedTree(m.source, m.destination, (parsed.flags & MS.REC) !== 0, parsed.idmap, {
      uidMappings: maps.uidMappings,
      gidMappings: maps.gidMappings,
    });
  }
  return {
    ...parsed,
    destination: m.destination,
    inRoot,
    source: m.source ?? null,
    type: m.type ?? null,
    fileTarget,
    ...(treeFd !== undefined ? { treeFd } : {}),
  };
}

/** Closes the runtime's fds of idmapped trees (the child holds its own copies from the clone on). */
export function closeMountFds(mounts: readonly PreparedMount[]): void {
  for (const m of mounts) if (m.treeFd !== undefined) closeFd(m.treeFd);
}

/** Checks every device's path inside the container; throws for a relative one or "/". */
export function checkDevices(devices: readonly Device[]): void {
  for (const d of devices) destinationPath(d.path, "device");
}
