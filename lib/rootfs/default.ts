/**
 * The default root filesystem: where it lives and building it on first use.
 * @module
 */

import { isReady } from "./marker.ts";

/**
 * minicontainer's data folder: $MINICONTAINER_DATA, else /var/lib/minicontainer
 * for root and $XDG_DATA_HOME/minicontainer (~/.local/share/minicontainer)
 * for other users.
 */
export function dataDir(): string {
  const set = Deno.env.get("MINICONTAINER_DATA");
  if (set) return set;
  if (Deno.uid() === 0) return "/var/lib/minicontainer";
  const xdg = Deno.env.get("XDG_DATA_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.local/share`;
  return `${xdg}/minicontainer`;
}

/** Where the default rootfs lives. */
export function defaultRootfsPath(): string {
  return `${dataDir()}/rootfs/default`;
}

/** Whether a finished rootfs is at `dir` (one lstat: this is on every start). */
export function isRootfsReady(dir: string): boolean {
  return isReady(dir);
}

/** The default rootfs, built first if it is not there yet. */
export async function ensureDefaultRootfs(log?: (line: string) => void): Promise<string> {
  const dir = defaultRootfsPath();
  if (!isReady(dir)) {
    const { buildRootfs } = await import("./build.ts");
    await buildRootfs(dir, { log });
  }
  return dir;
}

/**
 * An empty directory each container mounts its own private tmpfs on (in its
 * own mount namespace, so any number share it) to overlay the default rootfs.
 */
export function defaultScratchDir(): string {
  const dir = `${dataDir()}/rootfs/.scratch`;
  try {
    Deno.lstatSync(dir);
  } catch {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
  }
  return dir;
}
