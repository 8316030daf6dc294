/**
 * Whether a leftover is there and how much disk it holds, for what reclaim
 * reports.
 * @module
 */

/** Whether `path` exists (a symlink counts as itself). */
export function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Bytes a file or directory tree holds on disk (st_blocks), without following links. */
export function diskUsage(path: string): number {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return 0;
  }
  let total = (info.blocks ?? 0) * 512;
  if (info.isDirectory) {
    try {
      for (const e of Deno.readDirSync(path)) total += diskUsage(`${path}/${e.name}`);
    } catch { /* unreadable: counted as its own size */ }
  }
  return total;
}

/** Bytes in docker's words: "1.2MB" (powers of 1000, as docker prints them). */
export function humanBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let n = bytes;
  let u = 0;
  while (n >= 1000 && u < units.length - 1) {
    n /= 1000;
    u++;
  }
  return `${u === 0 ? n : n.toFixed(n < 10 ? 2 : 1)}${units[u]}`;
}
