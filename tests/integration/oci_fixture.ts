// A small two-layer OCI image layout for the image tests (registry, load).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * An OCI layout with two layers (busybox, then a layer that adds a file and
 * deletes one). With `multiPlatform`, tag "1" is an image index of a
 * linux/amd64 image and a linux/arm64 one (same layers, GREETING=arm).
 */
export async function ociLayout(dir: string, multiPlatform = false): Promise<void> {
  await sh(
    `mkdir -p ${dir}/l1/bin ${dir}/l1/etc ${dir}/l1/app ${dir}/l2/etc ${dir}/blobs/sha256 && cp /bin/busybox ${dir}/l1/bin/ && ` +
      `for a in sh cat ls pwd env; do ln -s busybox ${dir}/l1/bin/$a; done && echo old > ${dir}/l1/etc/old && ` +
      `echo layer2 > ${dir}/l2/etc/motd && touch ${dir}/l2/etc/.wh.old && ` +
      `tar -C ${dir}/l1 -czf ${dir}/l1.tgz . && tar -C ${dir}/l2 -czf ${dir}/l2.tgz .`,
  );
  const blob = (bytes: Uint8Array) => {
    const d = digestOf(bytes);
    Deno.writeFileSync(`${dir}/blobs/sha256/${d.slice(7)}`, bytes);
    return { digest: d, size: bytes.length };
  };
  const layers = ["l1", "l2"].map((l) => Deno.readFileSync(`${dir}/${l}.tgz`));
  const diffIds = await Promise.all(
    layers.map(async (gz) =>
      digestOf(
        new Uint8Array(
          await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip")))
            .arrayBuffer(),
        ),
      )
    ),
  );
  const config = blob(new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: {
      Env: ["PATH=/bin", "GREETING=hello"],
      Cmd: ["sh", "-c", "echo $GREETING from $(pwd); cat /etc/motd; ls /etc"],
      WorkingDir: "/app",
    },
    rootfs: { type: "layers", diff_ids: diffIds },
  })));
  const manifest = blob(new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((gz) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      ...blob(gz),
    })),
  })));
  Deno.writeTextFileSync(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  if (multiPlatform) {
    const armConfig = blob(new TextEncoder().encode(JSON.stringify({
      architecture: "arm64",
      os: "linux",
      config: { Env: ["PATH=/bin", "GREETING=arm"], Cmd: ["sh", "-c", "echo $GREETING"] },
      rootfs: { type: "layers", diff_ids: diffIds },
    })));
    const armManifest = blob(new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...armConfig },
      layers: layers.map((gz) => ({
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        ...blob(gz),
      })),
    })));
    const index = blob(new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          platform: { os: "linux", architecture: "amd64" },
        },
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...armManifest,
          platform: { os: "linux", architecture: "arm64" },
        },
      ],
    })));
    Deno.writeTextFileSync(
      `${dir}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{
          mediaType: "application/vnd.oci.image.index.v1+json",
          ...index,
          annotations: { "org.opencontainers.image.ref.name": "1" },
        }],
      }),
    );
    return;
  }
  Deno.writeTextFileSync(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": "1" },
      }],
    }),
  );
}
