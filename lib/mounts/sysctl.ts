/**
 * `--sysctl K=V` (spec.linux.sysctl): the namespaced kernel parameters
 * docker allows, written by the child into its own namespaces' /proc/sys,
 * after /proc is mounted in the new root and before /proc/sys is made
 * read-only. The file is resolved inside the root (open_in_root) and
 * reopened for writing through the resolved descriptor.
 * @module
 */

import { K } from "../../ffi/syscalls.ts";
import { ContainerError } from "../errors.ts";
import { type Fragment, pathBuffer } from "./in_root.ts";

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
export function checkSysctl(name: string, value: string, hostNetwork: boolean): string {
  const dotted = name.replaceAll("/", ".");
  const fail = (why: string) => new ContainerError("sysctl", name, undefined, why);
  if (!/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/i.test(dotted) || dotted.includes("..")) {
    throw fail("not a sysctl name");
  }
  if (/[\n\0]/.test(value)) throw fail("the value holds a newline or NUL");
  if (dotted.startsWith("net.")) {
    if (hostNetwork) {
      throw fail("net.* sysctls need the container's own network (not --network host)");
    }
    return dotted;
  }
  if (IPC.has(dotted) || dotted.startsWith("fs.mqueue.")) return dotted;
  throw fail(
    "not a namespaced sysctl: it would change the host (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* are)",
  );
}

/** The ops writing each sysctl below the root fd of op `root` (/proc mounted there). */
export function sysctlOps(f: Fragment, root: number, sysctl: Record<string, string>): void {
  for (const [name, value] of Object.entries(sysctl)) {
    const path = `proc/sys/${name.replaceAll(".", "/")}`;
    const at = pathBuffer();
    f.open(root, path, 0, `resolve /${path}`, { path: at });
    const fd = f.push({
      call: "openat",
      args: [K.AT_FDCWD, at, K.O_WRONLY | K.O_CLOEXEC, 0],
      label: `open /${path} for writing`,
    });
    const bytes = new TextEncoder().encode(value);
    f.push({
      call: "write",
      args: [f.at(fd), bytes, bytes.length],
      label: `sysctl ${name}=${value}`,
    });
    f.push({ call: "close", args: [f.at(fd)], label: `close /${path}` });
  }
}
