/**
 * A read-only view of an exited container's files when its root was an
 * overlay (an image's layers, the default rootfs) whose writable layer it
 * kept: its upper directory on top of its lower ones, all as lower layers
 * of a new read-only overlay (no work directory needed, whiteouts and
 * opaque directories honoured). Mounted on a temporary directory, opened,
 * then detached at once: the descriptor keeps the view, nothing stays in
 * the host's mount table, and a killed command leaves no mount behind.
 * @module
 */

import { detachMount, mountFs, openAt } from "../../ffi/libc.ts";
import { ContainerError } from "../errors.ts";

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;

/** The merged files of `overlay`, as a directory descriptor (read-only). */
export function openOverlayView(
  overlay: { lower: readonly string[]; upper: string },
  what: string,
): number {
  const layers = [overlay.upper, ...overlay.lower];
  if (layers.some((l) => /[:,]/.test(l))) {
    throw new ContainerError(what, overlay.upper, undefined, "a layer path holds ':' or ','");
  }
  const at = Deno.makeTempDirSync({ prefix: "minicontainer-view-" });
  try {
    const r = mountFs(
      "overlay",
      at,
      "overlay",
      MS_RDONLY | MS_NOSUID | MS_NODEV,
      `lowerdir=${layers.join(":")}`,
    );
    if (r < 0) throw new ContainerError(`${what}: mount a view of`, overlay.upper, -r);
    const fd = openAt(-100, at, O_DIRECTORY | O_CLOEXEC);
    detachMount(at);
    if (fd < 0) throw new ContainerError(`${what}: open`, at, -fd);
    return fd;
  } finally {
    try {
      Deno.removeSync(at);
    } catch { /* still mounted only if the detach failed: left for the OS's tmp cleaning */ }
  }
}
