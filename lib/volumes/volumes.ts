/**
 * Named volumes: directories the runtime keeps under the data directory
 * (`$DATA/volumes/NAME/_data`, docker's layout), bound into containers with
 * `-v NAME:/path` or `--mount type=volume`, outliving them. A volume is in
 * use while any stored container (running or exited) mounts it; `volume rm`
 * and `prune` refuse or skip those.
 * @module
 */

import { ContainerError, fromDenoError } from "../errors.ts";
import { dataDir } from "../rootfs/default.ts";
import type { StateStore } from "../state/store.ts";

/** What `volume inspect` shows. */
export interface VolumeInfo {
  Name: string;
  Driver: "local";
  Mountpoint: string;
  CreatedAt: string;
  Scope: "local";
  Labels: Record<string, string>;
}

/** The folder holding every volume. */
export function volumesRoot(): string {
  return `${dataDir()}/volumes`;
}

/** Volume names docker accepts: [a-zA-Z0-9][a-zA-Z0-9_.-]+, here one character too. */
export function checkVolumeName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) || name.length > 255) {
    throw new ContainerError(
      "volume",
      JSON.stringify(name),
      undefined,
      "names take letters, digits, _ . - and start with a letter or digit",
    );
  }
}

/** Where volume `name`'s files are (what a container mounts). */
export function volumeData(name: string): string {
  return `${volumesRoot()}/${name}/_data`;
}

/** Whether volume `name` exists. */
export function volumeExists(name: string): boolean {
  try {
    return Deno.lstatSync(volumeData(name)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Creates volume `name` unless it exists (then it is left as is, as docker
 * does); its data folder. Made beside and renamed into place, so a volume
 * is whole or absent.
 */
export function createVolume(name: string, labels: Record<string, string> = {}): string {
  checkVolumeName(name);
  const root = volumesRoot();
  const dir = `${root}/${name}`;
  if (volumeExists(name)) return `${dir}/_data`;
  const temp = `${root}/.new-${Deno.pid}-${name}`;
  try {
    Deno.mkdirSync(root, { recursive: true, mode: 0o711 });
    Deno.mkdirSync(`${temp}/_data`, { recursive: true, mode: 0o755 });
    Deno.chmodSync(temp, 0o701);
    Deno.writeTextFileSync(
      `${temp}/meta.json`,
      JSON.stringify({ CreatedAt: new Date().toISOString(), Labels: labels }),
    );
    Deno.renameSync(temp, dir);
  } catch (e) {
    try {
      Deno.removeSync(temp, { recursive: true });
    } catch { /* not made */ }
    // Another command made it meanwhile: that one stands.
    if (volumeExists(name)) return `${dir}/_data`;
    throw fromDenoError("create volume", dir, e);
  }
  return `${dir}/_data`;
}

/** Every volume's name, sorted. */
export function volumeNames(): string[] {
  try {
    return [...Deno.readDirSync(volumesRoot())]
      .filter((e) => e.isDirectory && !e.name.startsWith("."))
      .map((e) => e.name)
      .sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw fromDenoError("list volumes", volumesRoot(), e);
  }
}

/** Volume `name` as `volume inspect` shows it; a "no such volume" error when missing. */
export function volumeInfo(name: string): VolumeInfo {
  if (!volumeExists(name)) throw new ContainerError("volume", name, undefined, "no such volume");
  let meta: { CreatedAt?: string; Labels?: Record<string, string> } = {};
  try {
    meta = JSON.parse(Deno.readTextFileSync(`${volumesRoot()}/${name}/meta.json`));
  } catch { /* made by hand: no metadata */ }
  return {
    Name: name,
    Driver: "local",
    Mountpoint: volumeData(name),
    CreatedAt: meta.CreatedAt ?? "",
    Scope: "local",
    Labels: meta.Labels ?? {},
  };
}

/** The containers (names) that mount volume `name`, from every stored container's spec. */
export function volumeUsers(store: StateStore, name: string): string[] {
  const data = volumeData(name);
  const users: string[] = [];
  for (const id of store.ids()) {
    const state = store.read(id);
    if (state?.spec?.mounts?.some((m) => m.source === data)) users.push(state.name);
  }
  return users;
}

/** Removes volume `name` unless a container uses it. */
export function removeVolume(store: StateStore, name: string): void {
  if (!volumeExists(name)) {
    throw new ContainerError("remove volume", name, undefined, "no such volume");
  }
  const users = volumeUsers(store, name);
  if (users.length) {
    throw new ContainerError(
      "remove volume",
      name,
      undefined,
      `volume is in use by container ${users.join(", ")}`,
    );
  }
  // Renamed away first: the name is free at once, a half-removed one is never mounted.
  const dir = `${volumesRoot()}/${name}`;
  const tomb = `${volumesRoot()}/.rm-${Deno.pid}-${name}`;
  try {
    Deno.renameSync(dir, tomb);
    Deno.removeSync(tomb, { recursive: true });
  } catch (e) {
    throw fromDenoError("remove volume", dir, e);
  }
}
