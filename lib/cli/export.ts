/**
 * `minicontainer export [-o FILE] CONTAINER`: a container's files as a tar
 * (other file systems mounted in it, /proc and the like, are left out), to
 * stdout without -o. A running container's root is read through its PID 1's
 * /proc/PID/root, held as a descriptor and walked by descriptors
 * (lib/fs/tree.ts): the container may change its files meanwhile, but never
 * make the walk read a host file. An exited container's files are exported
 * when they outlive it: a --rootfs directory, copied image layers, or an
 * overlay root's kept writable layer over its lower ones, read through a
 * read-only view (lib/fs/overlay_view.ts).
 * @module
 */

import { closeFd } from "../../ffi/libc.ts";
import { print } from "./output.ts";
import { liveStatus } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { openRoot } from "../fs/tree.ts";
import { openOverlayView } from "../fs/overlay_view.ts";
import { writeTree } from "../image/tar_write.ts";
import { isSameProcess } from "../state/liveness.ts";
import { type ContainerState, StateStore } from "../state/store.ts";
import { flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { output, OUTPUT_FLAGS } from "./save.ts";

function layerKept(upper: string): boolean {
  try {
    return Deno.lstatSync(upper).isDirectory;
  } catch {
    return false;
  }
}

/** The container's root directory, opened: the walk's starting descriptor (export, cp). */
export function openContainerRoot(
  state: ContainerState,
  ref: string,
  op = "export",
  writable = false,
): number {
  const status = liveStatus(state);
  if (status === "running" && state.pid) {
    const fd = openRoot(`/proc/${state.pid}/root`);
    // The pid may have been reused between the check and the open: then
    // the descriptor is some other process's root, never to be read.
    if (!isSameProcess(state.pid, state.pidStart)) {
      closeFd(fd);
      throw new ContainerError(op, ref, undefined, "the container exited meanwhile");
    }
    return fd;
  }
  if (status === "exited" && !state.overlay) return openRoot(state.spec.root.path);
  if (status === "exited" && state.overlay && !writable && layerKept(state.overlay.upper)) {
    // The kept writable layer over the image's: a read-only view.
    return openOverlayView(state.overlay, op);
  }
  throw new ContainerError(
    op,
    ref,
    undefined,
    status !== "exited"
      ? `the container is ${status}`
      : state.overlay && layerKept(state.overlay.upper)
      ? "the container has exited and its overlay root can only be read now"
      : "the container has exited and its root was an overlay that lived only while it ran",
  );
}

/** The `export` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, OUTPUT_FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer export [OPTIONS] CONTAINER\n\nOptions:\n${flagHelp(OUTPUT_FLAGS)}`,
    );
    return 0;
  }
  if (rest.length !== 1) throw usageError("export takes one container");
  const store = new StateStore(globalOptions.stateRoot);
  const state = store.read(store.resolve(rest[0]));
  if (!state) throw new ContainerError("export", rest[0], undefined, "no such container");
  const rootFd = openContainerRoot(state, rest[0]);
  try {
    await output(
      flags.output as string | undefined,
      (write) => writeTree(rootFd, write, { oneMount: true }),
    );
  } finally {
    closeFd(rootFd);
  }
  return 0;
}
