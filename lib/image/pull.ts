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
import { decompressed } from "./compression.ts";
import { parseReference } from "./reference.ts";
import { Registry } from "./registry.ts";
import type { ImageConfig, ImageStore } from "./store.ts";
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

/** Downloads blob `digest` to `path`, resuming a partial file, and verifies it. */
async function fetchBlob(
  registry: Registry,
  digest: string,
  path: string,
  progress?: { report: Progress; total: number },
): Promise<void> {
  const partial = `${path}.partial`;
  let have = 0;
  try {
    have = Deno.statSync(partial).size;
  } catch { /* a new download */ }
  const res = await registry.get(`blobs/${digest}`, have ? { range: `bytes=${have}-` } : {});
  if (!res.ok) {
    await res.body?.cancel();
    throw new ContainerError(
      "download",
      digest,
      undefined,
      `the registry answered ${res.status} ${res.statusText}`,
    );
  }
  const resumed = res.status === 206;
  const short = digest.slice(7, 19);
  if (have && resumed) progress?.report.line(`${short}: resuming at ${have} bytes`);
  const file = await Deno.open(partial, {
    create: true,
    write: true,
    append: resumed,
    truncate: !resumed,
  });
  let got = resumed ? have : 0;
  try {
    for await (const chunk of res.body!) {
      // write() may take part of a chunk (a filling disk): the rest must follow or fail.
      for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
      got += chunk.length;
      progress?.report.bytes(short, got, progress.total);
    }
  } catch (e) {
    file.close();
    const err = fromDenoError("download", digest, e);
    // A network failure leaves the partial file to resume from; a local one (a full disk) does not.
    if (err.errno !== undefined) Deno.removeSync(partial);
    throw err;
  }
  file.close();
  const hash = createHash("sha256");
  const input = await Deno.open(partial);
  for await (const chunk of input.readable) hash.update(chunk);
  const actual = `sha256:${hash.digest("hex")}`;
  if (actual !== digest) {
    Deno.removeSync(partial);
    throw new ContainerError("verify blob", digest, undefined, `its content hashes to ${actual}`);
  }
  Deno.renameSync(partial, path);
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
  const blobs = `${store.root}/blobs`;
  Deno.mkdirSync(blobs, { recursive: true });
  const configPath = `${blobs}/${manifest.config.digest.slice(7)}`;
  await fetchBlob(registry, manifest.config.digest, configPath);
  const configDoc = JSON.parse(Deno.readTextFileSync(configPath));
  Deno.removeSync(configPath);
  const diffIds: string[] = configDoc.rootfs?.diff_ids ?? [];
  const layers: { digest: string; size: number }[] = manifest.layers ?? [];
  if (diffIds.length !== layers.length) {
    throw new ContainerError(
      "pull",
      ref.local,
      undefined,
      "its config and manifest disagree on the layers",
    );
  }
  let size = 0;
  await Promise.all(layers.map(async (layer, i) => {
    const short = layer.digest.slice(7, 19);
    if (store.hasLayer(diffIds[i])) {
      report?.state(short, "already exists");
      return;
    }
    report?.state(short, `downloading ${layer.size} bytes`);
    const path = `${blobs}/${layer.digest.slice(7)}`;
    await fetchBlob(registry, layer.digest, path, report && { report, total: layer.size });
    report?.state(short, "extracting");
    try {
      const file = await Deno.open(path);
      const { size: unpacked } = await store.addLayer(
        await decompressed(file.readable),
        layer.digest,
        diffIds[i],
      );
      size += unpacked;
    } finally {
      try {
        Deno.removeSync(path);
      } catch { /* already gone */ }
    }
    report?.state(short, "done");
  })).catch((e) => {
    throw e instanceof ContainerError ? e : fromDenoError("pull", ref.local, e);
  });
  const config: ImageConfig = configDoc.config ?? {};
  store.register({
    ref: ref.local,
    id: manifest.config.digest,
    layers: diffIds,
    config,
    created: configDoc.created ?? new Date().toISOString(),
    size,
  });
  report?.line(`pulled ${ref.local} (${manifest.config.digest.slice(7, 19)})`);
  return ref.local;
}
