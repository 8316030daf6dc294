/**
 * `--sysctl K=V`: which kernel parameters docker allows (the namespaced
 * ones), checked on the host. Loaded only when the flag is given; the
 * child's ops that write them are in masks.ts (sysctlOps), on the run path.
 * @module
 */

import { ContainerError } from "../errors.ts";

/** docker's namespaced sysctls: IPC ones, the message queue ones, and the network namespace's. */
const IPC = new Set([
  "kernel.msgmax",
  "kernel.msgmnb",
  "kernel.msgmni",
  "kernel.sem",
  "kernel.shmall",
  "kernel.shmmax",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
]);

/**
 * Checks a sysctl name (dots or slashes) and value; the dotted name. Only
 * namespaced ones: a host-wide parameter would change the host. net.* needs
 * the container's own network namespace.
 */
export function checkSysctl(name: string, value: string, sharedNetwork: boolean): string {
  const dotted = name.replaceAll("/", ".");
  const fail = (why: string) => new ContainerError("sysctl", name, undefined, why);
  if (!/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/i.test(dotted) || dotted.includes("..")) {
    throw fail("not a sysctl name");
  }
  if (/[\n\0]/.test(value)) throw fail("the value holds a newline or NUL");
  if (dotted.startsWith("net.")) {
    if (sharedNetwork) {
      throw fail(
        "net.* sysctls need the container's own network (not --network host or container:)",
      );
    }
    return dotted;
  }
  if (IPC.has(dotted) || dotted.startsWith("fs.mqueue.")) return dotted;
  throw fail(
    "not a namespaced sysctl: it would change the host (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* are)",
  );
}
