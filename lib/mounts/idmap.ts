/**
 * Idmapped bind mounts (the `idmap` and `ridmap` options): made by the
 * runtime itself, on the host, before the container is cloned. The kernel
 * lets only a holder of CAP_SYS_ADMIN over the source's file system (the
 * host's user namespace) idmap a mount, which a child in the container's
 * own user namespace is not; the detached, idmapped copy's fd is inherited
 * by the child, which moves it onto its target (./plan.ts).
 *
 * The idmapping is a user namespace: a short-lived child cloned into a new
 * one (the trampoline, with a plan that only waits), its maps written,
 * its /proc/PID/ns/user opened, then killed; the fd keeps the namespace.
 * @module
 */

import { encodePlan } from "../../ffi/plan.ts";
import { closeFd, mountSetattrFd, openAt, openTree } from "../../ffi/libc.ts";
import { CLONE, K, MOUNT_ATTR } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { ContainerError } from "../errors.ts";
import type { IdMapping } from "../spec.ts";
import { mountAttr } from "./options.ts";

/** Uid and gid maps of an idmapped mount: on-disk id (containerID) to the id it shows as (hostID). */
export interface MountIdMaps {
  uidMappings: readonly IdMapping[];
  gidMappings: readonly IdMapping[];
}

const text = (maps: readonly IdMapping[]) =>
  maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");

/** An fd of a new user namespace with `maps`; the caller closes it. */
function userNamespaceFd(maps: MountIdMaps, what: string): number {
  const t = trampoline();
  const child = t.spawn(
    CLONE.NEWUSER,
    encodePlan([{ call: "wait_sync", args: [], label: "wait for the runtime" }]),
    -1,
  );
  try {
    for (
      const [file, list] of [["uid_map", maps.uidMappings], ["gid_map", maps.gidMappings]] as const
    ) {
      try {
        Deno.writeTextFileSync(`/proc/${child.pid}/${file}`, text(list));
      } catch (e) {
        throw new ContainerError(
          `${what}: write ${file} of its user namespace`,
          undefined,
          undefined,
          (e as Error).message,
        );
      }
    }
    const fd = openAt(K.AT_FDCWD, `/proc/${child.pid}/ns/user`, K.O_RDONLY | K.O_CLOEXEC);
    if (fd < 0) throw new ContainerError(`${what}: open its user namespace`, undefined, -fd);
    return fd;
  } finally {
    t.kill(child.pid, K.SIGKILL);
    t.close(child.syncFd);
    t.close(child.errorFd);
    t.wait(child.pid).catch(() => {});
  }
}

/**
 * A detached copy of `source` (its submounts too when `recursiveBind`),
 * idmapped with `maps` (its submounts too for `ridmap`): an O_CLOEXEC fd
 * for the child to move onto the target. Throws one sentence naming what
 * the host lacks.
 */
export function idmappedTree(
  source: string,
  destination: string,
  recursiveBind: boolean,
  option: "idmap" | "ridmap",
  maps: MountIdMaps,
): number {
  const what = `${option} mount of ${source} on ${destination}`;
  if (Deno.uid() !== 0) {
    throw new ContainerError(
      what,
      undefined,
      undefined,
      "idmapped mounts need the runtime to run as root (CAP_SYS_ADMIN over the source's file system)",
    );
  }
  const tree = openTree(
    source,
    K.OPEN_TREE_CLONE | K.O_CLOEXEC | (recursiveBind ? K.AT_RECURSIVE : 0),
  );
  if (tree < 0) throw new ContainerError(`${what}: open_tree`, source, -tree);
  let userns = -1;
  try {
    userns = userNamespaceFd(maps, what);
    const r = mountSetattrFd(
      tree,
      option === "ridmap" ? K.AT_RECURSIVE : 0,
      mountAttr(MOUNT_ATTR.IDMAP, 0, userns),
    );
    if (r === -38 /* ENOSYS */) {
      throw new ContainerError(
        what,
        undefined,
        undefined,
        "idmapped mounts need Linux 5.12 or later (mount_setattr)",
      );
    }
    if (r === -22 /* EINVAL */) {
      throw new ContainerError(
        what,
        undefined,
        undefined,
        "the kernel refused to idmap it (EINVAL): the source's file system does not support idmapped mounts, or a mapping is invalid",
      );
    }
    if (r < 0) throw new ContainerError(`${what}: mount_setattr`, undefined, -r);
    return tree;
  } catch (e) {
    closeFd(tree);
    throw e;
  } finally {
    closeFd(userns);
  }
}
