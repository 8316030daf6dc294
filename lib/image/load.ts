/**
 * `load`: images from a `docker save` archive or an OCI image layout (a
 * directory, or a tar of one). Every layer is checked against the diff id
 * its config names before the image is registered.
 * @module
 */

import { createHash } from "node:crypto";
import { ContainerError, fromDenoError } from "../errors.ts";
import { decompressed } from "./compression.ts";
import { extractLayer } from "./extract.ts";
import type { ImageConfig, ImageStore, Lease } from "./store.ts";
import { normalizeRef } from "./store.ts";

function readJson(path: string, what: string): Record<string, unknown> {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    throw e instanceof SyntaxError
      ? new ContainerError("load", what, undefined, `${path.split("/").pop()} is not valid JSON`)
      : fromDenoError("load", path, e);
  }
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of (await Deno.open(path)).readable) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
}

async function addLayers(
  store: ImageStore,
  files: string[],
  diffIds: string[],
  what: string,
  lease: Lease,
): Promise<void> {
  if (files.length !== diffIds.length) {
    throw new ContainerError(
      "load",
      what,
      undefined,
      "its config and manifest disagree on the layers",
    );
  }
  for (let i = 0; i < files.length; i++) {
    const file = await Deno.open(files[i]);
    await store.addLayer(
      await decompressed(file.readable),
      `${what} layer ${i + 1}`,
      diffIds[i],
      lease,
    );
  }
}

/** Loads every image in the layout or archive at `dir` (already unpacked); resolves to their names. */
async function loadFrom(
  store: ImageStore,
  dir: string,
  what: string,
  name?: string,
): Promise<string[]> {
  const loaded: string[] = [];
  const register = async (refs: string[], configPath: string, layerFiles: string[], id: string) => {
    const doc = readJson(configPath, what) as {
      config?: ImageConfig;
      rootfs?: { diff_ids?: string[] };
      created?: string;
    };
    const diffIds = doc.rootfs?.diff_ids ?? [];
    // The layers are kept from a concurrent prune until the image is registered.
    const lease = store.lease();
    try {
      await addLayers(store, layerFiles, diffIds, what, lease);
      // docker's short form: docker.io/library/alpine:3 is alpine:3.
      const short = (r: string) => r.replace(/^docker\.io\/(library\/)?/, "");
      for (const ref of refs.length ? refs.map(short) : [`${id.slice(7, 19)}:latest`]) {
        await store.register({
          ref: normalizeRef(ref),
          id,
          layers: diffIds,
          config: doc.config ?? {},
          created: doc.created ?? new Date().toISOString(),
          size: diffIds.reduce((sum, d) => sum + store.layerSize(d), 0),
        });
        loaded.push(normalizeRef(ref));
      }
    } finally {
      lease.release();
    }
  };
  let isDocker = false;
  try {
    Deno.statSync(`${dir}/manifest.json`);
    isDocker = true;
  } catch { /* not a docker save archive */ }
  if (isDocker) {
    const entries = readJson(`${dir}/manifest.json`, what) as unknown as {
      Config: string;
      RepoTags?: string[];
      Layers: string[];
    }[];
    for (const e of entries) {
      const configPath = `${dir}/${e.Config}`;
      await register(
        e.RepoTags ?? (name ? [name] : []),
        configPath,
        e.Layers.map((l) => `${dir}/${l}`),
        await fileDigest(configPath),
      );
    }
    return loaded;
  }
  const index = readJson(`${dir}/index.json`, what) as {
    manifests?: { digest: string; annotations?: Record<string, string> }[];
  };
  const blob = async (digest: string) => {
    const path = `${dir}/blobs/${digest.replace(":", "/")}`;
    const got = await fileDigest(path);
    if (got !== digest) {
      throw new ContainerError("verify blob", digest, undefined, `its content hashes to ${got}`);
    }
    return path;
  };
  for (const m of index.manifests ?? []) {
    const manifest = readJson(await blob(m.digest), what) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    const annotated = m.annotations?.["io.containerd.image.name"] ??
      m.annotations?.["org.opencontainers.image.ref.name"];
    // A bare tag in the layout ("1") needs a name to go with it.
    const ref = annotated && /[/:]/.test(annotated)
      ? annotated
      : name
      ? (annotated ? `${name.split(":")[0]}:${annotated}` : name)
      : undefined;
    const layers = await Promise.all(manifest.layers.map((l) => blob(l.digest)));
    await register(
      ref ? [ref] : [],
      await blob(manifest.config.digest),
      layers,
      manifest.config.digest,
    );
  }
  return loaded;
}

/** Loads the archive or layout at `path` ("-": a tar on stdin). */
export async function loadImages(
  store: ImageStore,
  path: string,
  name?: string,
): Promise<string[]> {
  let isDir = false;
  if (path !== "-") {
    try {
      isDir = Deno.statSync(path).isDirectory;
    } catch (e) {
      throw fromDenoError("load", path, e);
    }
  }
  if (isDir) return await loadFrom(store, path, path, name);
  const tmp = store.tempDir("load");
  try {
    const input = path === "-" ? Deno.stdin.readable : (await Deno.open(path)).readable;
    await extractLayer(await decompressed(input), tmp, path);
    return await loadFrom(store, tmp, path, name);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
}
