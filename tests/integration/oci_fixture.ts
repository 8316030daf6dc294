// OCI image layouts for the image tests (registry, load) and bench:pull, and a local docker-registry to push them to.
import { createHash } from "node:crypto";
import { sh } from "./helpers.ts";

const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A blob descriptor. */
export interface Descriptor {
  digest: string;
  size: number;
}

function blob(dir: string, bytes: Uint8Array): Descriptor {
  const digest = digestOf(bytes);
  Deno.mkdirSync(`${dir}/blobs/sha256`, { recursive: true });
  Deno.writeFileSync(`${dir}/blobs/sha256/${digest.slice(7)}`, bytes);
  return { digest, size: bytes.length };
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** Writes gzip'ed `layers` and an image config into `dir`'s blobs; the manifest's descriptor. */
export async function writeImage(
  dir: string,
  layers: Uint8Array<ArrayBuffer>[],
  image: { architecture: string; config: Record<string, unknown> },
): Promise<Descriptor> {
  const diffIds = await Promise.all(layers.map(async (gz) =>
    digestOf(
      new Uint8Array(
        await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip")))
          .arrayBuffer(),
      ),
    )
  ));
  const config = blob(
    dir,
    json({ ...image, os: "linux", rootfs: { type: "layers", diff_ids: diffIds } }),
  );
  return blob(
    dir,
    json({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: layers.map((gz) => ({
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        ...blob(dir, gz),
      })),
    }),
  );
}

/** Writes oci-layout and index.json naming `top` (a manifest or an index) as tag "1". */
export function writeIndex(dir: string, top: Descriptor & { mediaType: string }): void {
  Deno.writeTextFileSync(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  Deno.writeTextFileSync(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...top, annotations: { "org.opencontainers.image.ref.name": "1" } }],
    }),
  );
}

/**
 * An OCI layout with two layers (busybox, then a layer that adds a file and
 * deletes one). With `multiPlatform`, tag "1" is an image index of a
 * linux/amd64 image and a linux/arm64 one (same layers, GREETING=arm).
 */
export async function ociLayout(dir: string, multiPlatform = false): Promise<void> {
  await sh(
    `mkdir -p ${dir}/l1/bin ${dir}/l1/etc ${dir}/l1/app ${dir}/l2/etc && cp /bin/busybox ${dir}/l1/bin/ && ` +
      `for a in sh cat ls pwd env; do ln -s busybox ${dir}/l1/bin/$a; done && echo old > ${dir}/l1/etc/old && ` +
      `echo layer2 > ${dir}/l2/etc/motd && touch ${dir}/l2/etc/.wh.old && ` +
      `tar -C ${dir}/l1 -czf ${dir}/l1.tgz . && tar -C ${dir}/l2 -czf ${dir}/l2.tgz .`,
  );
  const layers = ["l1", "l2"].map((l) => Deno.readFileSync(`${dir}/${l}.tgz`));
  const amd64 = await writeImage(dir, layers, {
    architecture: "amd64",
    config: {
      Env: ["PATH=/bin", "GREETING=hello"],
      Cmd: ["sh", "-c", "echo $GREETING from $(pwd); cat /etc/motd; ls /etc"],
      WorkingDir: "/app",
    },
  });
  if (!multiPlatform) return writeIndex(dir, { mediaType: MANIFEST, ...amd64 });
  const arm64 = await writeImage(dir, layers, {
    architecture: "arm64",
    config: { Env: ["PATH=/bin", "GREETING=arm"], Cmd: ["sh", "-c", "echo $GREETING"] },
  });
  const index = blob(
    dir,
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: MANIFEST, ...amd64, platform: { os: "linux", architecture: "amd64" } },
        { mediaType: MANIFEST, ...arm64, platform: { os: "linux", architecture: "arm64" } },
      ],
    }),
  );
  writeIndex(dir, { mediaType: "application/vnd.oci.image.index.v1+json", ...index });
}

/** A TCP port free on 127.0.0.1 a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts Debian's docker-registry on 127.0.0.1 (with htpasswd basic auth when given). */
export async function startRegistry(work: string, htpasswd?: string) {
  const port = freePort();
  const auth = htpasswd ? `auth:\n  htpasswd:\n    realm: test\n    path: ${htpasswd}\n` : "";
  Deno.writeTextFileSync(
    `${work}/config.yml`,
    `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${work}/storage\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const child = new Deno.Command("docker-registry", {
    args: ["serve", `${work}/config.yml`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) break;
    } catch { /* not up yet */ }
    if (i > 100) throw new Error("the registry did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop: async () => {
      child.kill();
      await child.status;
    },
  };
}
