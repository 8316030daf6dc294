/**
 * Pulling an image: manifest (an index resolved to this platform), config
 * and layers, every blob checked against its sha256 before anything is
 * registered. Layers download in parallel into partial files that a later
 * pull resumes (HTTP Range), then unpack once into the store; layers the
 * store has are not downloaded again.
 * @module
 */

import { createHash } from "node:crypto";
import { ContainerError, fromDenoError } from "../errors.ts";
import { adoptBlob, hasBlob, putBlob, registerImage, unpackBlob } from "./blobs.ts";
import { parseReference } from "./reference.ts";
import { Registry, registryError } from "./registry.ts";
import type { ImageStore, Lease } from "./store.ts";
import type { Progress } from "./progress.ts";

/** How to pull. */
export interface PullOptions {
  insecure?: boolean;
  /** os/arch[/variant], default linux/amd64 (linux/arm64 on arm64 hosts). */
  platform?: string;
  progress?: Progress;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function defaultPlatform(): string {
  return Deno.build.arch === "aarch64" ? "linux/arm64" : "linux/amd64";
}

/** An image config or manifest bigger than this is not one. */
const MAX_CONFIG = 16 << 20;

/** A response's body, refused past `max` bytes. */
async function readLimited(res: Response, what: string, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of res.body!) {
    n += chunk.length;
    if (n > max) {
      await res.body?.cancel().catch(() => {});
      throw new ContainerError("download", what, undefined, `it is over ${max >> 20} MB`);
    }
    parts.push(chunk);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Layers downloaded at once (docker's default). */
const PARALLEL = 3;

async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  const input = await Deno.open(path);
  for await (const chunk of input.readable) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
}

/**
 * Downloads blob `digest` (`size` bytes) to `path`, resuming a partial file
 * left by an interrupted pull, and verifies it; only a verified blob gets
 * its final name.
 */
async function fetchBlob(
  registry: Registry,
  desc: { digest: string; size?: number },
  path: string,
  progress?: Progress,
): Promise<void> {
  const { digest } = desc;
  const partial = `${path}.partial`;
  const short = digest.slice(7, 19);
  let have = 0;
  try {
    have = Deno.statSync(partial).size;
  } catch { /* a new download */ }
  if (desc.size !== undefined && have > desc.size) {
    Deno.removeSync(partial);
    have = 0;
  }
  // A partial file as long as the blob: the earlier pull stopped before renaming it.
  const complete = have > 0 && have === desc.size;
  if (!complete) {
    const res = await registry.get(`blobs/${digest}`, have ? { range: `bytes=${have}-` } : {});
    if (!res.ok) {
      if (res.status === 416 && have) Deno.removeSync(partial); // start afresh next time
      throw new ContainerError("download", digest, undefined, await registryError(res));
    }
    const resumed = res.status === 206;
    if (have && resumed) progress?.line(`${short}: resuming at ${have} bytes`);
    const file = await Deno.open(partial, {
      create: true,
      write: true,
      append: resumed,
      truncate: !resumed,
    });
    let got = resumed ? have : 0;
    try {
      for await (const chunk of res.body!) {
        got += chunk.length;
        if (desc.size !== undefined && got > desc.size) {
          throw new ContainerError(
            "download",
            digest,
            undefined,
            `the registry sent more than the ${desc.size} bytes its manifest says`,
          );
        }
        // write() may take part of a chunk (a filling disk): the rest must follow or fail.
        for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
        progress?.bytes(short, got, desc.size ?? 0);
      }
    } catch (e) {
      file.close();
      const err = fromDenoError("download", digest, e);
      // A network failure leaves the partial file to resume from; anything else does not.
      if (err.errno !== undefined || e instanceof ContainerError) Deno.removeSync(partial);
      throw err;
    }
    file.close();
  }
  const actual = await fileDigest(partial);
  if (actual !== digest) {
    Deno.removeSync(partial);
    throw new ContainerError("verify blob", digest, undefined, `its content hashes to ${actual}`);
  }
  Deno.renameSync(partial, path);
}

/** Runs `fn` on every item, at most `n` at a time; rejects with the first failure. */
async function eachLimited<T>(items: T[], n: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(n, items.length) }, worker),
  );
  const bad = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  if (bad) throw bad.reason;
}

/** Pulls `text` into `store`; resolves to the local reference. */
export async function pull(
  store: ImageStore,
  text: string,
  opts: PullOptions = {},
): Promise<string> {
  const report = opts.progress;
  const ref = parseReference(text);
  const registry = new Registry(ref, opts.insecure ?? false);
  let { bytes, mediaType } = await registry.manifest(ref.digest ?? ref.tag!);
  // docker's repo digest: the one pulled by (an index's, for a multi-platform image).
  const repoDigest = sha256(bytes);
  if (ref.digest && sha256(bytes) !== ref.digest) {
    throw new ContainerError(
      "verify manifest",
      ref.local,
      undefined,
      `it hashes to ${sha256(bytes)}`,
    );
  }
  let manifest = JSON.parse(new TextDecoder().decode(bytes));
  if (mediaType.includes("index") || mediaType.includes("manifest.list") || manifest.manifests) {
    const [os, arch, variant] = (opts.platform ?? defaultPlatform()).split("/");
    const entry = manifest.manifests?.find((
      m: { platform?: { os: string; architecture: string; variant?: string } },
    ) =>
      m.platform?.os === os && m.platform?.architecture === arch &&
      (!variant || m.platform?.variant === variant)
    );
    if (!entry) {
      throw new ContainerError(
        "pull",
        ref.local,
        undefined,
        `no image for ${os}/${arch} in its index`,
      );
    }
    ({ bytes, mediaType } = await registry.manifest(entry.digest));
    if (sha256(bytes) !== entry.digest) {
      throw new ContainerError(
        "verify manifest",
        entry.digest,
        undefined,
        "its content does not match",
      );
    }
    manifest = JSON.parse(new TextDecoder().decode(bytes));
  }
  if (!manifest.config?.digest || !Array.isArray(manifest.layers)) {
    throw new ContainerError(
      "pull",
      ref.local,
      undefined,
      `its manifest (${mediaType || "no media type"}) is not an OCI or docker v2 image manifest`,
    );
  }
  const lease = store.lease();
  try {
    await pullImage(store, registry, ref.local, bytes, repoDigest, manifest, lease, report);
  } finally {
    lease.release();
  }
  return ref.local;
}

/** The config and layers of `manifest`, then the image registered as `local`. */
async function pullImage(
  store: ImageStore,
  registry: Registry,
  local: string,
  manifestBytes: Uint8Array,
  repoDigest: string,
  manifest: {
    config: { digest: string; size: number };
    layers: { digest: string; size: number }[];
  },
  lease: Lease,
  report?: Progress,
): Promise<void> {
  // The config is small: read into memory and checked there (no file another pull could share).
  const configRes = await registry.get(`blobs/${manifest.config.digest}`);
  if (!configRes.ok) {
    throw new ContainerError(
      "download",
      manifest.config.digest,
      undefined,
      await registryError(configRes),
    );
  }
  const configBytes = await readLimited(configRes, manifest.config.digest, MAX_CONFIG);
  if (sha256(configBytes) !== manifest.config.digest) {
    throw new ContainerError(
      "verify blob",
      manifest.config.digest,
      undefined,
      `its content hashes to ${sha256(configBytes)}`,
    );
  }
  let configDoc;
  try {
    configDoc = JSON.parse(new TextDecoder().decode(configBytes));
  } catch {
    throw new ContainerError("pull", local, undefined, "its image config is not valid JSON");
  }
  const diffIds: string[] = configDoc.rootfs?.diff_ids ?? [];
  const layers = manifest.layers;
  if (diffIds.length !== layers.length) {
    throw new ContainerError(
      "pull",
      local,
      undefined,
      "its config and manifest disagree on the layers",
    );
  }
  // One download per distinct layer: an image may repeat one (empty layers often are).
  const todo = new Map<string, { digest: string; size: number; diffId: string }>();
  layers.forEach((l, i) => todo.set(l.digest, { ...l, diffId: diffIds[i] }));
  const missing = [];
  for (const l of todo.values()) {
    lease.add(l.diffId); // kept from prune until registered (leased before it is looked at)
    if (store.hasLayer(l.diffId) && hasBlob(store.root, l.digest)) {
      report?.state(l.digest.slice(7, 19), "already exists");
    } else {
      missing.push(l);
      report?.state(l.digest.slice(7, 19), "waiting");
    }
  }
  await fetchLayers(store, registry, missing, lease, report).catch((e) => {
    throw e instanceof ContainerError ? e : fromDenoError("pull", local, e);
  });
  putBlob(store.root, configBytes);
  const manifestDigest = putBlob(store.root, manifestBytes);
  await registerImage(
    store,
    [local],
    manifest.config.digest,
    configDoc,
    manifestDigest,
    repoDigest,
  );
  report?.line(`pulled ${local} (${manifest.config.digest.slice(7, 19)})`);
}

/** Downloads, verifies and unpacks `layers`, {@link PARALLEL} at a time. */
function fetchLayers(
  store: ImageStore,
  registry: Registry,
  layers: { digest: string; size: number; diffId: string }[],
  lease: Lease,
  report?: Progress,
): Promise<void> {
  const blobs = `${store.root}/blobs`;
  return eachLimited(layers, PARALLEL, async (layer) => {
    const short = layer.digest.slice(7, 19);
    const path = `${blobs}/${layer.digest.slice(7)}`;
    // Another pull of the same blob (another image, another process) goes first.
    const lock = await Deno.open(`${path}.lock`, { create: true, write: true });
    try {
      await lock.lock(true);
      if (!hasBlob(store.root, layer.digest)) {
        report?.state(short, `downloading ${layer.size} bytes`);
        await fetchBlob(registry, layer, path, report);
        adoptBlob(store.root, path, layer.digest); // kept as pulled: save and push send these bytes
      }
      if (!store.hasLayer(layer.diffId)) {
        report?.state(short, "extracting");
        await unpackBlob(store, layer.digest, layer.digest, layer.diffId, lease);
      }
      report?.state(short, "done");
    } finally {
      lock.close();
    }
  });
}
