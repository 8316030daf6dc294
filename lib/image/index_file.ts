/**
 * Reading the image store's index and naming its layer directories, with
 * nothing else loaded: `run` consults it on every start (is the first word
 * an image?), so it must not pull in node: modules or the extractor.
 * @module
 */

import { ContainerError } from "../errors.ts";

/** The parts of an image config (OCI image-spec config.config) a container uses. */
export interface ImageConfig {
  /** "80/tcp": {} entries, for run -P. */
  ExposedPorts?: Record<string, unknown> | null;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
}

/**
 * Refuses a config a container cannot be made from: each field of the wrong
 * type, or holding a NUL byte (the kernel takes C strings: such a value would
 * be cut short or fail deep in the start-up). `ref` names the image in the
 * sentence; called when an image is registered and again before it runs.
 */
export function checkImageConfig(ref: string, config: unknown): void {
  const fail = (field: string, why: string) => {
    throw new ContainerError("image", ref, undefined, `its config's ${field} ${why}`);
  };
  if (config === null || config === undefined) return;
  if (typeof config !== "object" || Array.isArray(config)) fail("config", "is not an object");
  const c = config as Record<string, unknown>;
  for (const field of ["Env", "Entrypoint", "Cmd"]) {
    const v = c[field];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
      fail(field, "is not a list of strings");
    }
    if ((v as string[]).some((s) => s.includes("\0"))) fail(field, "holds a NUL byte");
  }
  for (const field of ["WorkingDir", "User", "StopSignal"]) {
    const v = c[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") fail(field, "is not a string");
    if ((v as string).includes("\0")) fail(field, "holds a NUL byte");
  }
}

/** An image in the store. */
export interface LocalImage {
  /** name:tag */
  ref: string;
  /** sha256:... of its config. */
  id: string;
  /** Diff ids (sha256 of each uncompressed layer), bottom first. */
  layers: string[];
  config: ImageConfig;
  created: string;
  /** Bytes of the uncompressed layers. */
  size: number;
  /** sha256:... of the registry manifest it was pulled by or pushed as (docker's repo digest). */
  digest?: string;
  /** sha256:... of its manifest in the store's blobs (see blobs.ts). */
  manifest?: string;
  /** A build step's image (the build cache): listed only by `images -a`. */
  intermediate?: boolean;
}

/** The index file's content. */
export interface Index {
  images: Record<string, LocalImage>;
}

/**
 * The image store's directory: `images` in the data directory shared with
 * the default rootfs (MINICONTAINER_DATA, else /var/lib/minicontainer for
 * root and the XDG data directory for others, as lib/rootfs decides it).
 */
export function imageStoreRoot(): string {
  const set = Deno.env.get("MINICONTAINER_DATA");
  if (set) return `${set}/images`;
  if (Deno.uid() === 0) return "/var/lib/minicontainer/images";
  const xdg = Deno.env.get("XDG_DATA_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.local/share`;
  return `${xdg}/minicontainer/images`;
}

/**
 * The directory of container `id` (its writable layer, its root): in
 * `containers/` of the data directory that holds the store at `storeRoot`,
 * where every container's lives (the default rootfs's too, see
 * lib/rootfs/default.ts). `id` empty: that parent, where prune finds the
 * layers.json of the containers using layers.
 */
export function containerDirOf(storeRoot: string, id: string): string {
  const dir = `${storeRoot.slice(0, storeRoot.lastIndexOf("/"))}/containers`;
  return id ? `${dir}/${id}` : dir;
}

/** docker's reference rules, reduced: a name without tag is name:latest. */
export function normalizeRef(ref: string): string {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  return colon > slash || ref.includes("@") ? ref : `${ref}:latest`;
}

/** The index of the store at `root` (empty when there is none). */
export function readIndex(root: string): Index {
  try {
    return JSON.parse(Deno.readTextFileSync(`${root}/index.json`));
  } catch {
    return { images: {} };
  }
}

/** Where a layer lives: a short name keeps overlayfs's option string small. */
export function layerDir(root: string, diffId: string): string {
  return `${root}/layers/${diffId.replace(/^sha256:/, "").slice(0, 16)}`;
}

/** Whether the layer with `diffId` is unpacked and complete. */
export function layerReady(root: string, diffId: string): boolean {
  try {
    Deno.lstatSync(`${layerDir(root, diffId)}.ok`);
    return true;
  } catch {
    return false;
  }
}

/** The image a reference names (name, name:tag, or a unique id prefix). */
export function findImage(root: string, ref: string): LocalImage | undefined {
  const images = readIndex(root).images;
  const byRef = images[normalizeRef(ref)];
  if (byRef) return byRef;
  const hex = ref.replace(/^sha256:/, "");
  if (/^[0-9a-f]{6,64}$/.test(hex)) {
    const matches = Object.values(images).filter((i) => i.id.slice(7).startsWith(hex));
    // One image may have several names: a prefix is unique when it names one id.
    if (matches.length && matches.every((i) => i.id === matches[0].id)) return matches[0];
  }
  return undefined;
}
