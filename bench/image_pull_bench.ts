/**
 * `deno task bench:pull`: pull plus extraction of a five-layer image of
 * about 100 MB from a local registry (Debian's docker-registry on
 * 127.0.0.1), minicontainer beside `skopeo copy` to an OCI directory
 * followed by `umoci unpack`, alternating, medians and the ratio.
 * ROUNDS=n (default 5).
 * @module
 */

import { writeImage, writeIndex } from "../tests/integration/oci_fixture.ts";

const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 5);
const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

async function sh(script: string): Promise<void> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`${script}: ${new TextDecoder().decode(out.stderr)}`);
}

async function layout(dir: string): Promise<void> {
  // Five layers of ~20 MB each: random data (incompressible, like binaries) and many small files.
  const layers: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < 5; i++) {
    await sh(
      `mkdir -p ${dir}/l${i}/data${i}/small && head -c 18000000 /dev/urandom > ${dir}/l${i}/data${i}/blob && ` +
        `for k in $(seq 1 400); do echo "file $k of layer ${i}" > ${dir}/l${i}/data${i}/small/$k; done && ` +
        (i === 0 ? `mkdir -p ${dir}/l0/bin && cp /bin/busybox ${dir}/l0/bin/ && ` : "") +
        `tar -C ${dir}/l${i} -czf ${dir}/l${i}.tgz .`,
    );
    layers.push(Deno.readFileSync(`${dir}/l${i}.tgz`));
  }
  const manifest = await writeImage(dir, layers, {
    architecture: "amd64",
    config: { Cmd: ["/bin/busybox", "sh"] },
  });
  writeIndex(dir, { mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest });
  const total = layers.reduce((n, l) => n + l.length, 0);
  console.log(`image: 5 layers, ${(total / 1e6).toFixed(1)} MB compressed`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timed(script: string): Promise<number> {
  const t = performance.now();
  await sh(script);
  return performance.now() - t;
}

if (import.meta.main) {
  const work = Deno.makeTempDirSync({ prefix: "mc-pullbench-" });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  Deno.writeTextFileSync(
    `${work}/config.yml`,
    `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${work}/storage\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const registry = new Deno.Command("docker-registry", {
    args: ["serve", `${work}/config.yml`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0;; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) break;
      } catch { /* starting */ }
      if (i > 100) throw new Error("docker-registry did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
    await layout(`${work}/oci`);
    const ref = `127.0.0.1:${port}/bench/big:1`;
    await sh(`skopeo copy -q --dest-tls-verify=false oci:${work}/oci:1 docker://${ref}`);
    const mine: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const data = `${work}/data-${round}`;
      const run = async () =>
        mine.push(
          await timed(`MINICONTAINER_DATA=${data} ${repo}/minicontainer pull -q --insecure ${ref}`),
        );
      const peer = async () =>
        theirs.push(
          await timed(
            `skopeo copy -q --src-tls-verify=false docker://${ref} oci:${work}/p-${round}:1 && ` +
              `umoci unpack --image ${work}/p-${round}:1 ${work}/bundle-${round}`,
          ),
        );
      if (round % 2) await run().then(peer);
      else await peer().then(run);
      await sh(`rm -rf ${data} ${work}/p-${round} ${work}/bundle-${round}`);
    }
    const a = median(mine);
    const b = median(theirs);
    console.log(`pull + unpack, ${ROUNDS} alternating rounds`);
    console.log(`minicontainer pull            ${a.toFixed(0)} ms (median)`);
    console.log(`skopeo copy + umoci unpack    ${b.toFixed(0)} ms (median)`);
    console.log(`ratio                         ${(a / b).toFixed(2)}x`);
  } finally {
    registry.kill();
    await registry.status;
    Deno.removeSync(work, { recursive: true });
  }
}
