/**
 * The mark of a finished rootfs: a file written last, so a tree without it
 * was never completed. Kept apart from the builder so that checking for it,
 * on every container start, loads nothing else.
 * @module
 */

/** Written last: a tree without it is not a finished rootfs. */
export const READY_MARKER = ".minicontainer-rootfs";

/** Whether `dir` holds a finished rootfs. */
export function isReady(dir: string): boolean {
  try {
    Deno.lstatSync(`${dir}/${READY_MARKER}`);
    return true;
  } catch {
    return false;
  }
}
