// Pulls from a real registry (Debian's docker-registry on 127.0.0.1) of images built here:
// a repeated layer, a file capability (a binary xattr), a hostile layer, a finished partial
// download, two pulls at once, and the store left clean by rmi + prune.
import assert from "node:assert/strict";
import { mc, rootOnly, sh } from "./helpers.ts";
import { writeImage, writeIndex } from "./oci_fixture.ts";

/** cap_kill + cap_setuid, effective: a v2 file capability with a byte above 0x7f (0xa0). */
const CAP = "0x01000002a0000000000000000000000000000000";

const HAVE_REGISTRY = (() => {
  try {
    return Deno.statSync("/usr/bin/docker-registry").isFile;
  } catch {
    return false;
  }
})();

/** Root only, and the registry binary must be there (it is installed in CI). */
function registryTest(name: string) {
  const root = rootOnly(name);
  return HAVE_REGISTRY ? root : {
    name: `${name} (skipped: /usr/bin/docker-registry is missing; apt-get install docker-registry)`,
    ignore: true,
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Starts docker-registry on a free port with storage under `work`, and a
 * counting proxy in front of it (the registry buffers its access log):
 * pulls go to `proxyPort`, pushes straight to `port`.
 */
async function startRegistry(work: string) {
  const port = freePort();
  Deno.writeTextFileSync(
    `${work}/config.yml`,
    `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${work}/storage\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = new Deno.Command("/usr/bin/docker-registry", {
    args: ["serve", `${work}/config.yml`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch { /* not up yet */ }
    if (i > 100) throw new Error("the registry did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
  const gets = new Map<string, number>();
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)?.[1];
    if (blob && req.method === "GET") gets.set(blob, (gets.get(blob) ?? 0) + 1);
    const res = await fetch(`http://127.0.0.1:${port}${url.pathname}${url.search}`, {
      method: req.method,
      headers: req.headers,
      redirect: "manual",
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  return {
    port,
    proxyPort: proxy.addr.port,
    /** How many GETs of blob `digest` went through the proxy. */
    blobGets: (digest: string) => gets.get(digest) ?? 0,
    stop: async () => {
      await proxy.shutdown();
      child.kill();
      await child.status;
    },
  };
}

/** gzip'ed tars of the directories `dirs` (made by `script` under `work`). */
async function layers(work: string, script: string, dirs: string[]) {
  await sh(`cd ${work} && ${script}`);
  const out: Uint8Array<ArrayBuffer>[] = [];
  for (const d of dirs) {
    await sh(`tar --xattrs --xattrs-include='*' -C ${work}/${d} -czf ${work}/${d}.tgz .`);
    out.push(Deno.readFileSync(`${work}/${d}.tgz`));
  }
  return out;
}

/** Pushes an OCI layout of `tgz` layers as REF (127.0.0.1:PORT/NAME:1). */
async function push(work: string, name: string, tgz: Uint8Array<ArrayBuffer>[], ref: string) {
  const dir = `${work}/oci-${name}`;
  const manifest = await writeImage(dir, tgz, {
    architecture: "amd64",
    config: { Env: ["PATH=/bin"], Cmd: ["sh"] },
  });
  writeIndex(dir, { mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest });
  await sh(`skopeo copy -q --dest-tls-verify=false oci:${dir}:1 docker://${ref}`);
  return JSON.parse(Deno.readTextFileSync(`${dir}/blobs/sha256/${manifest.digest.slice(7)}`)) as {
    layers: { digest: string }[];
  };
}

Deno.test({
  ...registryTest(
    "pull: a repeated layer, a file capability kept, a finished partial not fetched again, two pulls at once",
  ),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-pull-" });
    const data = `${work}/data`;
    const env = { MINICONTAINER_DATA: data };
    const reg = await startRegistry(work);
    try {
      const tgz = await layers(
        work,
        "mkdir -p base/bin caps/bin && cp /bin/busybox base/bin/ && ln -s busybox base/bin/sh && " +
          `cp /bin/busybox caps/bin/pinger && setfattr -n security.capability -v ${CAP} caps/bin/pinger`,
        ["base", "caps"],
      );
      // base, caps, base again: one download and one extraction for the two.
      const manifest = await push(
        work,
        "caps",
        [tgz[0], tgz[1], tgz[0]],
        `127.0.0.1:${reg.port}/test/caps:1`,
      );
      const ref = `127.0.0.1:${reg.proxyPort}/test/caps:1`;
      assert.equal(manifest.layers[0].digest, manifest.layers[2].digest);

      // A finished download whose rename a crash prevented: verified and used as it is.
      const capsDigest = manifest.layers[1].digest;
      Deno.mkdirSync(`${data}/images/blobs`, { recursive: true });
      Deno.writeFileSync(`${data}/images/blobs/${capsDigest.slice(7)}.partial`, tgz[1]);

      const [one, two] = await Promise.all([
        mc(["pull", "--insecure", ref], { env }),
        mc(["pull", "--insecure", ref], { env }),
      ]);
      assert.equal(one.code, 0, one.stderr);
      assert.equal(two.code, 0, two.stderr);
      assert.equal(reg.blobGets(capsDigest), 0, "the complete partial file was not fetched again");
      assert.equal(reg.blobGets(manifest.layers[0].digest), 1, "one download for both pulls");

      const images = JSON.parse((await mc(["images", "--format", "json"], { env })).stdout);
      assert.equal(images.Layers, 3);
      assert.match(images.Digest, /^sha256:[0-9a-f]{64}$/);
      const layerDirs = [...Deno.readDirSync(`${data}/images/layers`)].filter((e) =>
        e.isDirectory && !e.name.startsWith(".")
      );
      assert.equal(layerDirs.length, 2);
      const capsDir = layerDirs.find((e) => {
        try {
          return Deno.lstatSync(`${data}/images/layers/${e.name}/bin/pinger`).isFile;
        } catch {
          return false;
        }
      });
      assert.ok(capsDir);
      assert.match(
        await sh(
          `getfattr -n security.capability -e hex ${data}/images/layers/${capsDir.name}/bin/pinger`,
        ),
        new RegExp(`security.capability=${CAP}`),
        "a binary security.capability xattr (a byte over 0x7f) survives the pull",
      );
      const run = await mc(["run", "--rm", ref, "sh", "-c", "echo ran"], { env });
      assert.equal(run.stdout, "ran\n", run.stderr);

      // rmi then prune: no layer, no blob, no lease, no lock left.
      assert.equal((await mc(["rmi", ref], { env })).code, 0);
      assert.equal((await mc(["image", "prune"], { env })).code, 0);
      for (const d of ["images/layers", "images/blobs/sha256", "images/leases", "containers"]) {
        assert.deepEqual(
          [...Deno.readDirSync(`${data}/${d}`)].map((e) => e.name),
          [],
          `${d} is empty`,
        );
      }
      assert.deepEqual([...Deno.readDirSync(`${data}/images/blobs`)].map((e) => e.name), [
        "sha256",
      ]);
      assert.deepEqual(JSON.parse(Deno.readTextFileSync(`${data}/images/index.json`)).images, {});
    } finally {
      await reg.stop();
      Deno.removeSync(work, { recursive: true });
    }
  },
});

Deno.test({
  ...registryTest(
    "pull: hostile layers from a registry are refused by entry name; nothing outside, nothing registered",
  ),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-pull-" });
    const data = `${work}/data`;
    const outside = `${work}/outside`;
    Deno.mkdirSync(outside);
    const env = { MINICONTAINER_DATA: data };
    const reg = await startRegistry(work);
    try {
      const script = (members: string) =>
        `python3 -c "
import io, tarfile, sys
t = tarfile.open(sys.argv[1], 'w:gz')
def add(name, data=b'', kind=tarfile.REGTYPE, link=''):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data)
    t.addfile(i, io.BytesIO(data))
${members}
t.close()
"`;
      const cases: [string, string, RegExp][] = [
        [
          "dotdot",
          `add('ok', b'fine'); add('../outside/escaped', b'pwned')`,
          /entry "\.\.\/outside\/escaped" would land outside the layer root/,
        ],
        [
          "symlink",
          `add('link', kind=tarfile.SYMTYPE, link='${outside}'); add('link/pwned', b'pwned')`,
          /entry "link\/pwned" would be written through the symlink link/,
        ],
      ];
      for (const [name, members, message] of cases) {
        await sh(`${script(members)} ${work}/${name}.tgz`);
        const ref = `127.0.0.1:${reg.port}/test/${name}:1`;
        await push(work, name, [Deno.readFileSync(`${work}/${name}.tgz`)], ref);
        const r = await mc(["pull", "-q", "--insecure", ref], { env });
        assert.equal(r.code, 125, r.stderr);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(r.stderr, message);
      }
      assert.deepEqual([...Deno.readDirSync(outside)], [], "nothing written outside");
      assert.deepEqual([...Deno.readDirSync(work)].filter((e) => e.name === "escaped"), []);
      assert.equal((await mc(["images", "-q"], { env })).stdout, "", "nothing registered");
      assert.deepEqual(
        [...Deno.readDirSync(`${data}/images/layers`)].map((e) => e.name),
        [],
        "no half-unpacked layer left",
      );
    } finally {
      await reg.stop();
      Deno.removeSync(work, { recursive: true });
    }
  },
});
