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

/**
 * Go's `%.{precision}g` (what docker's go-units formats with): at most
 * `precision` significant digits, no trailing zeros, an exponent (e+03)
 * once the number needs more digits than that.
 */
function goG(n: number, precision: number): string {
  if (n === 0) return "0";
  const text = n.toPrecision(precision);
  const [mantissa, exp] = text.split("e");
  const digits = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
  if (exp === undefined) return digits;
  const e = Number(exp);
  return `${digits}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

/** `bytes` in `units` of powers of `base`, formatted as Go's %.{precision}g. */
function sized(bytes: number, base: number, units: string[], precision: number): string {
  let n = bytes;
  let u = 0;
  while (n >= base && u < units.length - 1) {
    n /= base;
    u++;
  }
  return `${goG(n, precision)}${units[u]}`;
}

/** docker's decimal sizes (go-units HumanSizeWithPrecision): "1.5MB", "12.3kB"; NET and BLOCK I/O. */
export function decimalSize(bytes: number, precision = 4): string {
  return sized(bytes, 1000, ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"], precision);
}

/** docker's binary sizes (go-units BytesSize): "64MiB", "1.944GiB"; memory in stats. */
export function binarySize(bytes: number): string {
  return sized(bytes, 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"], 4);
}

/** Bytes in docker's words: "1.2MB" (powers of 1000, go-units' HumanSize, as prune prints them). */
export function humanBytes(bytes: number): string {
  return decimalSize(bytes, 4);
}
