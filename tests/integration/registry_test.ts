// Pulling from a real registry (Debian's docker-registry on 127.0.0.1),
// pushed to with skopeo: tag and digest pulls, config merge, verification.
import assert from "node:assert/strict";
import { LAUNCHER, mc, rootOnly, sh } from "./helpers.ts";
import { freePort, ociLayout, startRegistry } from "./oci_fixture.ts";

const data = Deno.makeTempDirSync({ prefix: "mc-data-" });
const env = { MINICONTAINER_DATA: data };
const m = (args: string[]) => mc(args, { env });

Deno.test({
  ...rootOnly(
    "pull: basic auth from the environment or a docker config.json; a refused login is one sentence",
  ),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-registry-" });
    const hash = (await sh(
      `python3 -c "import crypt; print(crypt.crypt('secret', crypt.mksalt(crypt.METHOD_BLOWFISH)))" 2>/dev/null`,
    )).trim();
    Deno.writeTextFileSync(`${work}/htpasswd`, `alice:${hash}\n`);
    const reg = await startRegistry(work, `${work}/htpasswd`);
    try {
      await ociLayout(`${work}/oci`);
      const ref = `127.0.0.1:${reg.port}/private/bb:1`;
      await sh(
        `skopeo copy -q --dest-tls-verify=false --dest-creds alice:secret oci:${work}/oci:1 docker://${ref}`,
      );
      const anonymous = await mc(["pull", "--insecure", ref], { env });
      assert.equal(anonymous.code, 125);
      assert.match(anonymous.stderr, /the registry refused access \(401\); check the credentials/);
      const as = (password: string) => ({
        ...env,
        MINICONTAINER_REGISTRY_USER: "alice",
        MINICONTAINER_REGISTRY_PASSWORD: password,
      });
      assert.equal((await mc(["pull", "--insecure", ref], { env: as("nope") })).code, 125);
      const right = await mc(["pull", "--insecure", ref], { env: as("secret") });
      assert.equal(right.code, 0, right.stderr);
      await mc(["rmi", ref], { env });
      Deno.mkdirSync(`${work}/home/.docker`, { recursive: true });
      Deno.writeTextFileSync(
        `${work}/home/.docker/config.json`,
        JSON.stringify({ auths: { [`127.0.0.1:${reg.port}`]: { auth: btoa("alice:secret") } } }),
      );
      const fromConfig = await mc(["pull", "--insecure", ref], {
        env: { ...env, HOME: `${work}/home` },
      });
      assert.equal(fromConfig.code, 0, fromConfig.stderr);
      await mc(["rmi", ref], { env });

      // login writes that config.json (after checking the password); push and pull use it.
      const home = { ...env, HOME: `${work}/home2` };
      const host = `127.0.0.1:${reg.port}`;
      const wrong = await mc(["login", "-u", "alice", "-p", "nope", host], { env: home });
      assert.equal(wrong.code, 125);
      assert.match(wrong.stderr, /log in to 127.0.0.1:\d+: the registry answered 401/);
      const login = await mc(["login", "-u", "alice", "--password-stdin", host], {
        env: home,
        stdin: "secret\n",
      });
      assert.equal(login.code, 0, login.stderr);
      const saved = JSON.parse(Deno.readTextFileSync(`${work}/home2/.docker/config.json`));
      assert.equal(saved.auths[host].auth, btoa("alice:secret"));
      assert.equal(Deno.statSync(`${work}/home2/.docker/config.json`).mode! & 0o777, 0o600);
      assert.equal((await mc(["pull", "-q", ref], { env: home })).code, 0);
      await mc(["tag", ref, `${host}/private/copy:2`], { env: home });
      const pushed = await mc(["push", `${host}/private/copy:2`], { env: home });
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.equal((await mc(["logout", host], { env: home })).code, 0);
      const after = await mc(["push", `${host}/private/copy:2`], { env: home });
      assert.equal(after.code, 125);
      assert.match(after.stderr, /refused access \(401\)/);
      await mc(["rmi", ref, `${host}/private/copy:2`], { env });
    } finally {
      await reg.stop();
      Deno.removeSync(work, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly(
    "pull: from a real registry by tag and by digest, run it, verify blobs, second pull downloads nothing",
  ),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-registry-" });
    const reg = await startRegistry(work);
    const port = reg.port;
    try {
      await ociLayout(`${work}/oci`);
      await sh(
        `skopeo copy -q --dest-tls-verify=false oci:${work}/oci:1 docker://127.0.0.1:${port}/test/bb:1`,
      );
      const ref = `127.0.0.1:${port}/test/bb:1`;

      const first = await m(["pull", "--insecure", ref]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout.trim(), ref);
      assert.match(first.stderr, /downloading/);
      const run = await m(["run", "--rm", ref]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(
        run.stdout.trim().split("\n"),
        // hostname, hosts and resolv.conf: the runtime's files, mounted on every container's /etc.
        ["hello from /app", "layer2", "hostname", "hosts", "motd", "resolv.conf"],
        "config merged, whiteout applied",
      );
      assert.equal(
        (await m(["run", "--rm", "-e", "GREETING=bye", ref, "sh", "-c", "echo $GREETING"])).stdout,
        "bye\n",
      );

      // An interrupted download resumes: leave half a layer as a partial file, pull again.
      await m(["rmi", ref]);
      const indexDigest =
        JSON.parse(Deno.readTextFileSync(`${work}/oci/index.json`)).manifests[0].digest;
      const layer0 = JSON.parse(
        Deno.readTextFileSync(`${work}/oci/blobs/sha256/${indexDigest.slice(7)}`),
      ).layers[0].digest.slice(7);
      const whole = Deno.readFileSync(`${work}/oci/blobs/sha256/${layer0}`);
      Deno.mkdirSync(`${data}/images/blobs`, { recursive: true });
      Deno.writeFileSync(
        `${data}/images/blobs/${layer0}.partial`,
        whole.subarray(0, whole.length >> 1),
      );
      const resumed = await m(["pull", "--insecure", ref]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(
        resumed.stderr,
        new RegExp(`${layer0.slice(0, 12)}: resuming at ${whole.length >> 1} bytes`),
      );
      assert.equal((await m(["run", "--rm", ref, "cat", "/etc/motd"])).stdout, "layer2\n");

      // On a terminal: a bar per layer, redrawn in place.
      await m(["rmi", ref]);
      const tty = await new Deno.Command("script", {
        args: ["-q", "-e", "-c", `${LAUNCHER} pull --insecure ${ref}`, "/dev/null"],
        env,
        stdout: "piped",
      }).output();
      const screen = new TextDecoder().decode(tty.stdout);
      assert.equal(tty.code, 0, screen);
      const clearLine = "\x1b[2K"; // redrawn in place: each bar line starts by clearing the line
      assert.ok(screen.includes(clearLine), screen);
      assert.match(
        screen.replaceAll(clearLine, "\n"),
        /^[0-9a-f]{12}: (downloading|extracting|done)/m,
      );

      // A full disk mid-pull: one sentence, nothing registered, no half layer left.
      const small = Deno.makeTempDirSync({ prefix: "mc-small-" });
      await sh(`mount -t tmpfs -o size=1200k tmpfs ${small}`);
      try {
        const full = await mc(["pull", "-q", "--insecure", ref], {
          env: { MINICONTAINER_DATA: small },
        });
        assert.equal(full.code, 125);
        assert.equal(full.stderr.trim().split("\n").length, 1, full.stderr);
        assert.match(full.stderr, /No space left on device/);
        assert.deepEqual(
          JSON.parse(await sh(`cat ${small}/images/index.json 2>/dev/null || echo '{"images":{}}'`))
            .images,
          {},
        );
        const left = [...Deno.readDirSync(`${small}/images/layers`)].map((e) => e.name);
        assert.ok(left.every((n) => !n.startsWith(".unpack-")), left.join(" "));
      } finally {
        await sh(`umount ${small}`);
        Deno.removeSync(small, { recursive: true });
      }

      const again = await m(["pull", "--insecure", ref]);
      assert.doesNotMatch(again.stderr, /downloading/, "a second pull downloads no layer");
      assert.equal((again.stderr.match(/already exists/g) ?? []).length, 2);

      const digest =
        JSON.parse(await sh(`skopeo inspect --tls-verify=false docker://${ref}`)).Digest;
      const byDigest = await m(["pull", "--insecure", `127.0.0.1:${port}/test/bb@${digest}`]);
      assert.equal(byDigest.code, 0, byDigest.stderr);
      assert.equal(
        (await m(["run", "--rm", `127.0.0.1:${port}/test/bb@${digest}`, "cat", "/etc/motd"]))
          .stdout,
        "layer2\n",
      );

      // A corrupted blob in the registry: verification fails, nothing is registered.
      await sh(
        `skopeo copy -q --dest-tls-verify=false oci:${work}/oci:1 docker://127.0.0.1:${port}/test/broken:1`,
      );
      for (const rmi of [ref, `127.0.0.1:${port}/test/bb@${digest}`]) await m(["rmi", rmi]);
      const layerBlob =
        JSON.parse(Deno.readTextFileSync(`${work}/oci/index.json`)).manifests[0].digest;
      const manifest = JSON.parse(
        Deno.readTextFileSync(`${work}/oci/blobs/sha256/${layerBlob.slice(7)}`),
      );
      const target = manifest.layers[1].digest.slice(7);
      const stored = `${work}/storage/docker/registry/v2/blobs/sha256/${
        target.slice(0, 2)
      }/${target}/data`;
      const bytes = Deno.readFileSync(stored);
      bytes[bytes.length - 10] ^= 0xff;
      Deno.writeFileSync(stored, bytes);
      const broken = await m(["pull", "--insecure", `127.0.0.1:${port}/test/broken:1`]);
      assert.equal(broken.code, 125);
      assert.match(broken.stderr, /verify blob sha256:[0-9a-f]+: its content hashes to/);
      assert.doesNotMatch((await m(["images"])).stdout, /broken/);

      const unknown = await m(["pull", "--insecure", `127.0.0.1:${port}/test/nosuch:1`]);
      assert.equal(unknown.code, 125);
      assert.match(unknown.stderr, /no such image or tag/);
      const unreachable = await m(["pull", "--insecure", `127.0.0.1:${freePort()}/test/bb:1`]);
      assert.equal(unreachable.code, 125);
      assert.match(unreachable.stderr, /reach registry/);

      // An image index: this machine's platform by default, another with --platform.
      await ociLayout(`${work}/multi`, true);
      await sh(
        `skopeo copy -q --all --dest-tls-verify=false oci:${work}/multi:1 docker://127.0.0.1:${port}/test/multi:1`,
      );
      const multi = `127.0.0.1:${port}/test/multi:1`;
      assert.equal((await m(["pull", "-q", "--insecure", multi])).code, 0);
      assert.equal(
        (await m(["run", "--rm", multi, "sh", "-c", "echo $GREETING"])).stdout,
        "hello\n",
        "linux/amd64 by default",
      );
      assert.equal(
        (await m(["pull", "-q", "--insecure", "--platform", "linux/arm64", multi])).code,
        0,
      );
      assert.equal(
        (await m(["run", "--rm", multi, "sh", "-c", "echo $GREETING"])).stdout,
        "arm\n",
        "the platform asked for",
      );
      const none = await m(["pull", "--insecure", "--platform", "linux/s390x", multi]);
      assert.equal(none.code, 125);
      assert.match(none.stderr, /no image for linux\/s390x in its index/);
      await m(["rmi", multi]);

      await m(["image", "prune"]);
      assert.deepEqual(
        [...Deno.readDirSync(`${data}/images/layers`)].filter((e) => !e.name.startsWith(".")),
        [],
      );
    } finally {
      await reg.stop();
      Deno.removeSync(work, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly(
    "run pulls a missing image; loopback registries need no --insecure; failures name their cause",
  ),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-registry-" });
    const reg = await startRegistry(work);
    try {
      await ociLayout(`${work}/oci`);
      const ref = `127.0.0.1:${reg.port}/auto/bb:1`;
      await sh(`skopeo copy -q --dest-tls-verify=false oci:${work}/oci:1 docker://${ref}`);
      const first = await m(["run", "--rm", ref, "cat", "/etc/motd"]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, "layer2\n");
      assert.match(first.stderr, /Unable to find image '.*' locally/);
      const second = await m(["run", "--rm", ref, "cat", "/etc/motd"]);
      assert.equal(second.stdout, "layer2\n");
      assert.equal(second.stderr, "", "a local image is not pulled again");
      const always = await m(["run", "--rm", "--pull", "always", ref, "cat", "/etc/motd"]);
      assert.equal(always.code, 0, always.stderr);
      assert.match(always.stderr, /already exists/);
      assert.doesNotMatch(always.stderr, /Unable to find/);
      const viaLocalhost = await m(["pull", "-q", `localhost:${reg.port}/auto/bb:1`]);
      assert.equal(viaLocalhost.code, 0, viaLocalhost.stderr);
      await m(["rmi", ref, `localhost:${reg.port}/auto/bb:1`]);

      const refused = await m(["pull", `127.0.0.1:${freePort()}/auto/bb:1`]);
      assert.equal(refused.code, 125);
      assert.match(refused.stderr, /reach registry 127.0.0.1:\d+: connection refused$/m);
      const dns = await m(["pull", "nosuch.invalid/auto/bb:1"]);
      assert.match(dns.stderr, /reach registry nosuch.invalid: its name does not resolve \(DNS\)/);
      // A plain HTTP server on this machine's own (not loopback) address: TLS gets HTTP back.
      const ip = (await sh("hostname -I")).split(/\s+/).find((a) =>
        /^\d+\.\d+\.\d+\.\d+$/.test(a) && !a.startsWith("127.")
      );
      if (ip) {
        const plain = Deno.listen({ hostname: ip, port: 0 });
        const served = (async () => {
          for await (const c of plain) {
            await c.read(new Uint8Array(4096)).catch(() => null);
            await c.write(
              new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
            ).catch(() => 0);
            c.close();
          }
        })();
        const port = (plain.addr as Deno.NetAddr).port;
        const tls = await m(["pull", `${ip}:${port}/auto/bb:1`]);
        plain.close();
        await served.catch(() => {});
        assert.equal(tls.code, 125);
        assert.match(tls.stderr, /answered plain HTTP to a TLS connection; use --insecure/);
      }
    } finally {
      await reg.stop();
      Deno.removeSync(work, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly(
    "commit, tag, push: skopeo reads the image and labels; pull, save, load, push keeps the manifest digest; cross-repository mount; digest pulls show as <none>",
  ),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-push-" });
    const reg = await startRegistry(work);
    const root = Deno.makeTempDirSync({ prefix: "mc-state-" });
    const host = `127.0.0.1:${reg.port}`;
    const skopeo = async (ref: string, extra = "") =>
      JSON.parse(await sh(`skopeo inspect ${extra} --tls-verify=false docker://${ref}`));
    try {
      await ociLayout(`${work}/oci`);
      const src = `${host}/src/bb:1`;
      await sh(`skopeo copy -q --dest-tls-verify=false oci:${work}/oci:1 docker://${src}`);
      const d0 = (await skopeo(src)).Digest;
      assert.equal((await m(["pull", "-q", src])).code, 0);

      // A digest pull: <none> tag, its digest shown.
      assert.equal((await m(["pull", "-q", `${host}/src/bb@${d0}`])).code, 0);
      const table = (await m(["images", "--digests"])).stdout;
      assert.match(table, new RegExp(`^${host}/src/bb +<none> +${d0} `, "m"), table);
      assert.match(table, new RegExp(`^${host}/src/bb +1 +${d0} `, "m"), table);
      await m(["rmi", `${host}/src/bb@${d0}`]);

      const started = await mc([
        "--root",
        root,
        "run",
        "-d",
        "--name",
        "c1",
        src,
        "sh",
        "-c",
        "echo committed > /app/new; rm /bin/ls; sleep 300",
      ], { env });
      assert.equal(started.code, 0, started.stderr);
      await new Promise((r) => setTimeout(r, 500));
      const commit = await mc([
        "--root",
        root,
        "commit",
        "-c",
        'LABEL org.example.k=v other="two words"',
        "-c",
        'CMD ["cat", "/app/new"]',
        "-m",
        "a message",
        "c1",
        "committed:1",
      ], { env });
      assert.equal(commit.code, 0, commit.stderr);
      const id = commit.stdout.trim();
      assert.match(id, /^sha256:[0-9a-f]{64}$/);
      assert.equal((await m(["run", "--rm", "committed:1"])).stdout, "committed\n");
      assert.equal(
        (await m(["run", "--rm", "committed:1", "ls"])).code,
        127,
        "the deletion is a whiteout",
      );
      const inspect = JSON.parse((await m(["image", "inspect", "committed:1"])).stdout)[0];
      assert.equal(inspect.Id, id);
      assert.deepEqual(inspect.Config.Labels, { "org.example.k": "v", other: "two words" });
      assert.equal(inspect.RootFS.Layers.length, 3);
      const history = (await m(["image", "history", "committed:1"])).stdout.split("\n");
      assert.match(history[1], new RegExp(`^${id.slice(7, 19)} .*a message$`));

      const app = `${host}/team/app:1`;
      assert.equal((await m(["tag", "committed:1", app])).code, 0);
      const pushed = await m(["push", app]);
      assert.equal(pushed.code, 0, pushed.stderr);
      const [, digest] = /^1: digest: (sha256:[0-9a-f]{64}) size: \d+$/.exec(pushed.stdout.trim())!;
      const remote = await skopeo(app);
      assert.equal(remote.Digest, digest);
      assert.deepEqual(remote.Labels, { "org.example.k": "v", other: "two words" });
      assert.equal(
        `sha256:${
          (await sh(`skopeo inspect --raw --config --tls-verify=false docker://${app} | sha256sum`))
            .split(" ")[0]
        }`,
        id,
        "the registry has the config whose digest is the image id",
      );
      // skopeo copies it back out and the files are the committed ones.
      await sh(`skopeo copy -q --src-tls-verify=false docker://${app} oci:${work}/back:1`);
      const again = await m(["push", app]);
      assert.equal((again.stderr.match(/already exists/g) ?? []).length, 4, again.stderr);
      assert.match((await m(["images", "--digests"])).stdout, new RegExp(`team/app +1 +${digest}`));

      // Another repository of the same registry: the layers are mounted, not uploaded.
      assert.equal((await m(["tag", src, `${host}/other/bb:1`])).code, 0);
      const mounted = await m(["push", `${host}/other/bb:1`]);
      assert.equal(mounted.code, 0, mounted.stderr);
      assert.match(mounted.stderr, /mounted from src\/bb/);
      assert.equal((await skopeo(`${host}/other/bb:1`)).Digest, d0);

      // pull, save, load, push: the registry gets the very same manifest.
      await mc(["--root", root, "rm", "-f", "c1"], { env });
      await m(["save", "-o", `${work}/src.tar`, src]);
      await m(["rmi", src, `${host}/other/bb:1`]);
      const loaded = await m(["load", "-i", `${work}/src.tar`]);
      assert.equal(loaded.stdout.trim(), `Loaded image: ${src}`, loaded.stderr);
      await m(["tag", src, `${host}/copy/bb:1`]);
      const copied = await m(["push", "-q", `${host}/copy/bb:1`]);
      assert.equal(copied.stdout.trim(), d0, copied.stderr);
      assert.equal((await skopeo(`${host}/copy/bb:1`)).Digest, d0);

      // A blob bigger than one PUT goes up in PATCH chunks; the registry checks its digest.
      await sh(
        `mkdir -p ${work}/big && head -c 20000000 /dev/urandom > ${work}/big/blob && tar -C ${work}/big -cf ${work}/big.tar blob`,
      );
      assert.equal((await m(["import", `${work}/big.tar`, `${host}/big/x:1`])).code, 0);
      const big = await m(["push", "-q", `${host}/big/x:1`]);
      assert.equal(big.code, 0, big.stderr);
      assert.equal((await skopeo(`${host}/big/x:1`)).Digest, big.stdout.trim());
      await sh(
        `skopeo copy -q --src-tls-verify=false docker://${host}/big/x:1 oci:${work}/bigback:1`,
      );
      await m(["rmi", `${host}/big/x:1`]);

      const missing = await m(["push", `${host}/nosuch/x:1`]);
      assert.equal(missing.code, 125);
      assert.match(missing.stderr, /no such image here/);
    } finally {
      await mc(["--root", root, "rm", "-f", "c1"], { env });
      await reg.stop();
      Deno.removeSync(work, { recursive: true });
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly(
    "push failures: a read-only registry's status, another's JSON error code and message",
  ),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-ro-" });
    const port = freePort();
    Deno.writeTextFileSync(
      `${work}/config.yml`,
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${work}/storage\n  maintenance:\n    readonly:\n      enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
    const child = new Deno.Command("docker-registry", {
      args: ["serve", `${work}/config.yml`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      for (let i = 0;; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/v2/`);
          await res.body?.cancel();
          break;
        } catch { /* not up yet */ }
        if (i > 100) throw new Error("the registry did not start");
        await new Promise((r) => setTimeout(r, 50));
      }
      await ociLayout(`${work}/oci`);
      assert.equal(
        (await m(["load", "-i", `${work}/oci`, "--name", `127.0.0.1:${port}/ro/bb`])).code,
        0,
      );
      const push = await m(["push", `127.0.0.1:${port}/ro/bb:1`]);
      assert.equal(push.code, 125);
      assert.match(
        push.stderr,
        /^minicontainer: push sha256:[0-9a-f]+: the registry answered 405 Method Not Allowed$/m,
      );
      // A registry's JSON error (a quota, as Harbor says it): its code and message are shown.
      const fake = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
        const path = new URL(req.url).pathname;
        if (path === "/v2/") return new Response("{}");
        if (req.method === "HEAD") return new Response(null, { status: 404 });
        return Response.json({ errors: [{ code: "DENIED", message: "quota exceeded" }] }, {
          status: 507,
          statusText: "Insufficient Storage",
        });
      });
      try {
        const ref = `127.0.0.1:${fake.addr.port}/ro/bb:1`;
        await m(["tag", `127.0.0.1:${port}/ro/bb:1`, ref]);
        const quota = await m(["push", ref]);
        assert.equal(quota.code, 125);
        assert.match(
          quota.stderr,
          /the registry answered 507 Insufficient Storage \(DENIED: quota exceeded\)$/m,
        );
        await m(["rmi", ref]);
      } finally {
        await fake.shutdown();
      }
      await m(["rmi", `127.0.0.1:${port}/ro/bb:1`]);
    } finally {
      child.kill();
      await child.status;
      Deno.removeSync(work, { recursive: true });
    }
  },
});

addEventListener("unload", () => {
  try {
    Deno.removeSync(data, { recursive: true });
  } catch { /* not root: nothing was made */ }
});
