/**
 * `load`: images from an OCI image layout (a directory, or a tar of one;
 * what `save` writes) or a `docker save` archive. Blobs are stored as they
 * are, each checked against its digest and every layer against the diff id
 * its config names, so an image keeps its id and manifest digest.
 * @module
 */

import { createHash } from "node:crypto";
import { ContainerError, fromDenoError } from "../errors.ts";
import {
  type ConfigDoc,
  type Descriptor,
  type Manifest,
  putBlob,
  putBlobStream,
  putManifest,
  registerImage,
  sha256,
  storedLayerType,
  unpackBlob,
} from "./blobs.ts";
import { decompressed } from "./compression.ts";
import { extractLayer } from "./extract.ts";
import type { ImageStore, Lease } from "./store.ts";
import { normalizeRef } from "./store.ts";

function readJson<T>(path: string, what: string): T {
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
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
}

/** Copies `path` into the store as a blob (verified against `digest` when given). */
async function copyBlob(store: ImageStore, path: string, digest?: string) {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    throw fromDenoError("load", path, e);
  }
  return await putBlobStream(store.root, file.readable, digest);
}

/** docker's short form: docker.io/library/alpine:3 is alpine:3. */
const short = (r: string) => normalizeRef(r.replace(/^docker\.io\/(library\/)?/, ""));

function defaultPlatform(): [string, string] {
  return ["linux", Deno.build.arch === "aarch64" ? "arm64" : "amd64"];
}

/** Stores and unpacks the layers of `config`, then registers it under `refs`. */
async function addImage(
  store: ImageStore,
  what: string,
  refs: string[],
  configBytes: Uint8Array,
  layerFiles: { path: string; digest?: string }[],
  manifestBytes: Uint8Array | undefined,
  lease: Lease,
): Promise<void> {
  let config: ConfigDoc;
  try {
    config = JSON.parse(new TextDecoder().decode(configBytes));
  } catch {
    throw new ContainerError("load", what, undefined, "an image config is not valid JSON");
  }
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== layerFiles.length) {
    throw new ContainerError(
      "load",
      what,
      undefined,
      "its config and manifest disagree on the layers",
    );
  }
  const layers: Descriptor[] = [];
  for (let i = 0; i < layerFiles.length; i++) {
    const { digest, size } = await copyBlob(store, layerFiles[i].path, layerFiles[i].digest);
    layers.push({ mediaType: storedLayerType(store.root, digest), digest, size });
    await unpackBlob(store, digest, `${what} layer ${i + 1}`, diffIds[i], lease);
  }
  const manifest = manifestBytes
    ? putBlob(store.root, manifestBytes)
    : putManifest(store.root, configBytes, layers);
  putBlob(store.root, configBytes);
  await registerImage(store, refs, sha256(configBytes), config, manifest);
}

/** Loads every image in the layout or archive at `dir` (already unpacked); resolves to their names. */
async function loadFrom(
  store: ImageStore,
  dir: string,
  what: string,
  name?: string,
): Promise<string[]> {
  const loaded: string[] = [];
  // The blobs and layers are kept from a concurrent prune until the images are registered.
  const lease = store.lease();
  try {
    let isOci = false;
    try {
      Deno.statSync(`${dir}/index.json`);
      isOci = true;
    } catch { /* a docker save archive */ }
    if (!isOci) {
      const entries = readJson<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>(
        `${dir}/manifest.json`,
        what,
      );
      for (const e of entries) {
        const refs = (e.RepoTags?.length ? e.RepoTags : name ? [name] : []).map(short);
        const configBytes = Deno.readFileSync(`${dir}/${e.Config}`);
        const layers = e.Layers.map((l) => ({ path: `${dir}/${l}` }));
        await addImage(store, what, refs, configBytes, layers, undefined, lease);
        loaded.push(...(refs.length ? refs : [sha256(configBytes)]));
      }
      return loaded;
    }
    const blob = async (digest: string) => {
      const path = `${dir}/blobs/${digest.replace(":", "/")}`;
      let got;
      try {
        got = await fileDigest(path);
      } catch (e) {
        throw fromDenoError("load", path, e);
      }
      if (got !== digest) {
        throw new ContainerError("verify blob", digest, undefined, `its content hashes to ${got}`);
      }
      return path;
    };
    const index = readJson<{
      manifests?: { digest: string; annotations?: Record<string, string> }[];
    }>(`${dir}/index.json`, what);
    for (const m of index.manifests ?? []) {
      let manifestPath = await blob(m.digest);
      let doc = readJson<
        Manifest & {
          manifests?: { digest: string; platform?: { os: string; architecture: string } }[];
        }
      >(manifestPath, what);
      if (doc.manifests) {
        // An image index: this machine's image of it.
        const [os, arch] = defaultPlatform();
        const entry = doc.manifests.find((e) =>
          e.platform?.os === os && e.platform?.architecture === arch
        );
        if (!entry) {
          throw new ContainerError(
            "load",
            what,
            undefined,
            `no image for ${os}/${arch} in its index`,
          );
        }
        manifestPath = await blob(entry.digest);
        doc = readJson(manifestPath, what);
      }
      const full = m.annotations?.["io.containerd.image.name"];
      const tag = m.annotations?.["org.opencontainers.image.ref.name"];
      const fullName = full ?? (tag && /[/:]/.test(tag) ? tag : undefined);
      let ref: string | undefined;
      if (fullName) ref = short(fullName);
      else if (name) {
        // --name's tag when it has one, else the layout's bare tag ("1"), else latest.
        const hasTag = name.lastIndexOf(":") > name.lastIndexOf("/");
        ref = hasTag ? name : `${name}:${tag ?? "latest"}`;
      }
      const configBytes = Deno.readFileSync(await blob(doc.config.digest));
      const layers = [];
      for (const l of doc.layers) layers.push({ path: await blob(l.digest), digest: l.digest });
      await addImage(
        store,
        what,
        ref ? [ref] : [],
        configBytes,
        layers,
        Deno.readFileSync(manifestPath),
        lease,
      );
      loaded.push(ref ?? doc.config.digest);
    }
    return loaded;
  } finally {
    lease.release();
  }
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
    let input: ReadableStream<Uint8Array>;
    try {
      input = path === "-" ? Deno.stdin.readable : (await Deno.open(path)).readable;
    } catch (e) {
      throw fromDenoError("load", path, e);
    }
    await extractLayer(await decompressed(input), tmp, path);
    return await loadFrom(store, tmp, path, name);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
}
