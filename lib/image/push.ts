/**
 * Pushing an image over the distribution API: each blob (layers, then the
 * config) is looked for first (HEAD), mounted from another repository of
 * the same registry where the image came from one, else uploaded (one PUT,
 * or PATCH chunks for a big blob); then the manifest is PUT as stored, so
 * the registry's digest is the one the image has here.
 * @module
 */

import { ContainerError } from "../errors.ts";
import { blobPath, type Descriptor, imageManifest, sha256 } from "./blobs.ts";
import type { Progress } from "./progress.ts";
import { parseReference } from "./reference.ts";
import { Registry, registryError } from "./registry.ts";
import type { ImageStore } from "./store.ts";

/** Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size. */
const CHUNK = 16 << 20;

/** How to push. */
export interface PushOptions {
  insecure?: boolean;
  progress?: Progress;
}

/** `url` (absolute or relative to the registry) with `params` added to its query. */
function withQuery(registry: Registry, location: string, params: Record<string, string>): string {
  const url = new URL(location, registry.origin);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

async function uploadBlob(
  registry: Registry,
  path: string,
  blob: Descriptor,
  mountFrom: string | undefined,
  report?: Progress,
): Promise<"exists" | "mounted" | "uploaded"> {
  const short = blob.digest.slice(7, 19);
  const head = await registry.request("HEAD", `blobs/${blob.digest}`);
  await head.body?.cancel();
  if (head.ok) return "exists";
  const start = await registry.request(
    "POST",
    mountFrom
      ? `blobs/uploads/?mount=${blob.digest}&from=${encodeURIComponent(mountFrom)}`
      : "blobs/uploads/",
    {},
    mountFrom ? [`repository:${mountFrom}:pull`] : [],
  );
  if (start.status === 201) {
    await start.body?.cancel();
    return "mounted";
  }
  if (start.status !== 202 || !start.headers.get("location")) {
    throw new ContainerError("push", blob.digest, undefined, await registryError(start));
  }
  await start.body?.cancel();
  let location = start.headers.get("location")!;
  const file = await Deno.open(path);
  try {
    const buf = new Uint8Array(Math.min(CHUNK, Math.max(blob.size, 1)));
    if (blob.size <= CHUNK) {
      let n = 0;
      while (n < blob.size) {
        const got = await file.read(buf.subarray(n));
        if (got === null) break;
        n += got;
      }
      const body = buf.subarray(0, n);
      const put = await registry.request(
        "PUT",
        withQuery(registry, location, { digest: blob.digest }),
        {
          headers: { "content-type": "application/octet-stream" },
          body: () => body as Uint8Array<ArrayBuffer>,
        },
      );
      if (put.status !== 201) {
        throw new ContainerError("push", blob.digest, undefined, await registryError(put));
      }
      await put.body?.cancel();
      report?.bytes(short, n, blob.size);
      return "uploaded";
    }
    let sent = 0;
    while (sent < blob.size) {
      let n = 0;
      while (n < buf.length && sent + n < blob.size) {
        const got = await file.read(buf.subarray(n));
        if (got === null) break;
        n += got;
      }
      if (n === 0) break;
      const chunk = buf.slice(0, n);
      const patch = await registry.request("PATCH", location, {
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${sent}-${sent + n - 1}`,
        },
        body: () => chunk,
      });
      if (patch.status !== 202) {
        throw new ContainerError("push", blob.digest, undefined, await registryError(patch));
      }
      await patch.body?.cancel();
      location = patch.headers.get("location") ?? location;
      sent += n;
      report?.bytes(short, sent, blob.size);
    }
    const done = await registry.request(
      "PUT",
      withQuery(registry, location, { digest: blob.digest }),
    );
    if (done.status !== 201) {
      throw new ContainerError("push", blob.digest, undefined, await registryError(done));
    }
    await done.body?.cancel();
    return "uploaded";
  } finally {
    file.close();
  }
}

/** Pushes local image `text` to the registry it names; resolves to the manifest digest. */
export async function push(
  store: ImageStore,
  text: string,
  opts: PushOptions = {},
): Promise<{ digest: string; size: number; tag: string }> {
  const ref = parseReference(text);
  if (ref.digest) {
    throw new ContainerError("push", text, undefined, "push a tag, not a digest");
  }
  const image = store.find(ref.local) ?? store.find(text);
  if (!image) {
    throw new ContainerError(
      "push",
      text,
      undefined,
      "no such image here; tag one with this name first",
    );
  }
  const { bytes, manifest, digest } = imageManifest(store.root, image);
  const registry = new Registry(ref, opts.insecure ?? false, "push");
  // Another name of this image in another repository of the same registry: mount from there.
  const mountFrom = Object.values(store.readIndex().images)
    .filter((i) => i.id === image.id && i.ref !== image.ref)
    .map((i) => {
      try {
        return parseReference(i.ref);
      } catch {
        return undefined;
      }
    })
    .find((r) => r && r.host === ref.host && r.repository !== ref.repository)?.repository;
  const report = opts.progress;
  for (const blob of [...manifest.layers, manifest.config]) {
    const short = blob.digest.slice(7, 19);
    report?.state(short, "preparing");
    const how = await uploadBlob(
      registry,
      blobPath(store.root, blob.digest),
      blob,
      mountFrom,
      report,
    );
    report?.state(
      short,
      how === "exists"
        ? "layer already exists"
        : how === "mounted"
        ? `mounted from ${mountFrom}`
        : "pushed",
    );
  }
  const put = await registry.request("PUT", `manifests/${ref.tag}`, {
    headers: { "content-type": manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json" },
    body: () => bytes as Uint8Array<ArrayBuffer>,
  });
  if (put.status !== 201) {
    throw new ContainerError("push", ref.local, undefined, await registryError(put));
  }
  await put.body?.cancel();
  const said = put.headers.get("docker-content-digest");
  if (said && said !== digest) {
    throw new ContainerError(
      "push",
      ref.local,
      undefined,
      `the registry stored the manifest as ${said}, not ${digest}`,
    );
  }
  if (sha256(bytes) !== digest) {
    throw new ContainerError("push", ref.local, undefined, "its stored manifest is corrupt");
  }
  // docker's repo digest: this name's image is now known by the registry's digest.
  if (image.ref === ref.local && image.digest !== digest) {
    await store.register({ ...image, digest });
  }
  return { digest, size: bytes.length, tag: ref.tag! };
}
