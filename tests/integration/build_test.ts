// build: a Dockerfile with every instruction, multi-stage, the layer cache,
// and the config buildah makes of the same Dockerfile.
import assert from "node:assert/strict";
import { mc, rootOnly, sh } from "./helpers.ts";

const data = Deno.makeTempDirSync({ prefix: "mc-data-" });
const env = { MINICONTAINER_DATA: data };
const m = (args: string[]) => mc(args, { env });

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ ...rootOnly(name), fn });
}

let base = "";
/** A busybox image bb:1 with an app user (uid 1000), imported once; its tarball path. */
async function bbImage(): Promise<string> {
  if (base) return base;
  const dir = Deno.makeTempDirSync({ prefix: "mc-bb-" });
  await sh(
    `mkdir -p ${dir}/r/bin ${dir}/r/etc ${dir}/r/tmp && cp /bin/busybox ${dir}/r/bin/ && ` +
      `for a in sh cat ls echo id mkdir env pwd wget tr; do ln -s busybox ${dir}/r/bin/$a; done && ` +
      `printf 'root:x:0:0:root:/root:/bin/sh\\napp:x:1000:1000::/home/app:/bin/sh\\n' > ${dir}/r/etc/passwd && ` +
      `printf 'root:x:0:\\napp:x:1000:\\n' > ${dir}/r/etc/group && chmod 1777 ${dir}/r/tmp && ` +
      `tar -C ${dir}/r -czf ${dir}/bb.tgz .`,
  );
  const imp = await m(["import", `${dir}/bb.tgz`, "bb:1"]);
  assert.equal(imp.code, 0, imp.stderr);
  return (base = dir);
}

const DOCKERFILE = `# syntax=docker/dockerfile:1
ARG BASE=bb:1
FROM $BASE AS builder
ARG GREETING=hi
RUN echo "$GREETING from the builder" > /built.txt && \\
    mkdir -p /out/deep && echo deep > /out/deep/file
RUN ["/bin/sh", "-c", "echo exec form >> /built.txt"]

FROM \${BASE}
SHELL ["/bin/sh", "-c"]
ENV APP=/app PATH=/bin
WORKDIR $APP
# globs, a directory's content, --chown by name
COPY --chown=app:app *.txt conf ./
COPY --from=builder /built.txt /out/ /app/from/
ADD archive.tar.gz /app/unpacked/
ADD plain.bin /app/
RUN echo "in $(pwd) as $(id -u)" > /app/ran
USER app
EXPOSE 8080 53/udp
LABEL org.example.a=b "with space"="c d"
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD cat /app/ran
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["id -u; cat /app/ran /app/one.txt /app/nested /app/from/built.txt /app/from/deep/file /app/unpacked/inner/f; ls /app"]
`;

/** A build context: files for the globs, a directory, a tar.gz for ADD, an ignored file. */
async function context(): Promise<string> {
  const dir = Deno.makeTempDirSync({ prefix: "mc-ctx-" });
  await sh(
    `cd ${dir} && echo one > one.txt && echo two > two.txt && mkdir conf && echo nested > conf/nested && ` +
      `echo secret > secret.txt && printf 'secret.txt\\n' > .dockerignore && ` +
      `mkdir -p a/inner && echo unpacked > a/inner/f && tar -C a -czf archive.tar.gz inner && rm -r a && ` +
      `printf 'not a tar' > plain.bin`,
  );
  Deno.writeTextFileSync(`${dir}/Dockerfile`, DOCKERFILE);
  return dir;
}

test("build: a multi-stage Dockerfile with every instruction builds and runs", async () => {
  await bbImage();
  const ctx = await context();
  const built = await m(["build", "-t", "app:1", "-t", "app:latest", ctx]);
  assert.equal(built.code, 0, built.stderr);
  const id = built.stdout.trim().split("\n").pop()!;
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  const run = await m(["run", "app:1"]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.stdout.trim().split("\n"), [
    "1000",
    "in /app as 0",
    "one",
    "nested",
    "hi from the builder",
    "exec form",
    "deep",
    "unpacked",
    "from",
    "nested",
    "one.txt",
    "plain.bin",
    "ran",
    "two.txt",
    "unpacked",
  ]);
  const ls = await m([
    "run",
    "--entrypoint",
    "ls",
    "app:1",
    "-ln",
    "/app/one.txt",
    "/app/plain.bin",
  ]);
  assert.match(ls.stdout, /1000 +1000 .* \/app\/one.txt/, "--chown=app:app");
  assert.match(ls.stdout, /0 +0 .* \/app\/plain.bin/, "root's by default; not a tar: copied");
  const c = JSON.parse((await m(["image", "inspect", "app:1"])).stdout)[0];
  assert.equal(c.Id, id);
  assert.deepEqual(c.Config.Env, ["PATH=/bin", "APP=/app"]);
  assert.equal(c.Config.WorkingDir, "/app");
  assert.equal(c.Config.User, "app");
  assert.deepEqual(c.Config.ExposedPorts, { "8080/tcp": {}, "53/udp": {} });
  assert.deepEqual(c.Config.Labels, { "org.example.a": "b", "with space": "c d" });
  assert.deepEqual(c.Config.Volumes, { "/data": {} });
  assert.equal(c.Config.StopSignal, "SIGINT");
  assert.deepEqual(c.Config.Shell, ["/bin/sh", "-c"]);
  assert.deepEqual(c.Config.Healthcheck, {
    Test: ["CMD-SHELL", "cat /app/ran"],
    Interval: 5e9,
    Retries: 2,
  });
  assert.deepEqual(c.Config.Entrypoint, ["/bin/sh", "-c"]);
  assert.equal(c.RootFS.Layers.length, 6, "the base's, three COPY/ADD... and RUN: one layer each");
  const names = (await m(["images"])).stdout;
  assert.match(names, /^app +1 /m);
  assert.match(names, /^app +latest /m);
  assert.doesNotMatch(names, /<none>/, "build steps' images are listed only with -a");
  assert.match((await m(["images", "-a"])).stdout, /<none>/);

  // --target: the first stage only; --label on top.
  const target = await m([
    "build",
    "-q",
    "--target",
    "builder",
    "--label",
    "k=v",
    "-t",
    "b:1",
    ctx,
  ]);
  assert.equal(target.code, 0, target.stderr);
  assert.equal(
    (await m(["run", "b:1", "cat", "/built.txt"])).stdout,
    "hi from the builder\nexec form\n",
  );
  const b = JSON.parse((await m(["image", "inspect", "b:1"])).stdout)[0];
  assert.deepEqual(b.Config.Labels, { k: "v" });
  // --build-arg reaches a RUN (a new step: the cache does not answer it).
  const arg = await m([
    "build",
    "-q",
    "--target",
    "builder",
    "--build-arg",
    "GREETING=ho",
    "-t",
    "b:2",
    ctx,
  ]);
  assert.equal(arg.code, 0, arg.stderr);
  assert.equal(
    (await m(["run", "b:2", "cat", "/built.txt"])).stdout,
    "ho from the builder\nexec form\n",
  );

  // A failing RUN: one sentence, exit 125, nothing tagged.
  Deno.writeTextFileSync(`${ctx}/Dockerfile.bad`, "FROM bb:1\nRUN exit 3\n");
  const bad = await m(["build", "-f", `${ctx}/Dockerfile.bad`, "-t", "bad:1", ctx]);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /^minicontainer: RUN exit 3: it exited with status 3$/m);
  assert.doesNotMatch((await m(["images"])).stdout, /^bad /m);
  // A source outside the context through a symlink is refused.
  await sh(`ln -s /etc ${ctx}/etclink`);
  Deno.writeTextFileSync(`${ctx}/Dockerfile.escape`, "FROM bb:1\nCOPY etclink/passwd /x\n");
  const escape = await m(["build", "-f", `${ctx}/Dockerfile.escape`, ctx]);
  assert.equal(escape.code, 125);
  assert.match(escape.stderr, /it leads out of the build context/);
  // The link itself as the source: copied as a link, the host's /etc not read through it.
  Deno.writeTextFileSync(`${ctx}/Dockerfile.link`, "FROM bb:1\nCOPY etclink /x\nADD etclink /y\n");
  const link = await m(["build", "-q", "-f", `${ctx}/Dockerfile.link`, "-t", "link:1", ctx]);
  assert.equal(link.code, 0, link.stderr);
  const inImage = await m(["run", "link:1", "sh", "-c", "ls -l /x /y | tr -s ' '"]);
  assert.match(inImage.stdout, /\/x -> \/etc/);
  assert.match(inImage.stdout, /\/y -> \/etc/);
  const history = JSON.parse((await m(["image", "inspect", "link:1"])).stdout)[0];
  assert.equal(
    history.Size - JSON.parse((await m(["image", "inspect", "bb:1"])).stdout)[0].Size < 10_000,
    true,
    "no host files came in",
  );
  // .dockerignore'd files cannot be copied.
  Deno.writeTextFileSync(`${ctx}/Dockerfile.ign`, "FROM bb:1\nCOPY secret.txt /x\n");
  const ign = await m(["build", "-f", `${ctx}/Dockerfile.ign`, ctx]);
  assert.equal(ign.code, 125);
  assert.match(ign.stderr, /excluded by .dockerignore/);
  Deno.removeSync(ctx, { recursive: true });
});

test("build: an unchanged rebuild runs no RUN and gives the same id; a changed file reruns from its COPY on", async () => {
  await bbImage();
  // Each RUN that really runs fetches from this server: the count of hits is the count of runs.
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    hits++;
    return new Response("ok");
  });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const ctx = Deno.makeTempDirSync({ prefix: "mc-ctx-" });
  try {
    Deno.writeTextFileSync(`${ctx}/input`, "v1\n");
    Deno.writeTextFileSync(
      `${ctx}/Dockerfile`,
      `FROM bb:1\nRUN wget -q -O /first ${url}\nCOPY input /input\nRUN wget -q -O /second ${url}\nCMD ["cat", "/input"]\n`,
    );
    const first = await m(["build", "-q", "-t", "cached:1", ctx]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(hits, 2);
    const again = await m(["build", "-t", "cached:1", ctx]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(hits, 2, "no RUN ran");
    assert.equal((again.stderr.match(/Using cache/g) ?? []).length, 4, again.stderr);
    assert.equal(again.stdout.trim(), first.stdout.trim(), "the same image id");
    Deno.writeTextFileSync(`${ctx}/input`, "v2\n");
    const changed = await m(["build", "-q", "-t", "cached:1", ctx]);
    assert.equal(hits, 3, "the RUN after the changed COPY ran, the one before did not");
    assert.notEqual(changed.stdout.trim(), first.stdout.trim());
    assert.equal((await m(["run", "cached:1"])).stdout, "v2\n");
    await m(["build", "-q", "--no-cache", "-t", "cached:1", ctx]);
    assert.equal(hits, 5, "--no-cache runs every RUN");

    // image prune drops the build cache (and the layers only it held): the next build runs all.
    const layers = () => [...Deno.readDirSync(`${data}/images/layers`)].length;
    const before = layers();
    const pruned = await m(["image", "prune"]);
    assert.match(pruned.stdout, /Deleted \d+ build step images \(the build cache\)/);
    assert.ok(layers() < before, `${before} -> ${layers()}`);
    assert.doesNotMatch((await m(["images", "-a"])).stdout, /<none>/);
    assert.equal((await m(["run", "cached:1"])).stdout, "v2\n", "a named image stays whole");
    await m(["build", "-q", "-t", "cached:1", ctx]);
    assert.equal(hits, 7);
  } finally {
    await server.shutdown();
    Deno.removeSync(ctx, { recursive: true });
  }
});

test("build: the config matches buildah's for the same Dockerfile", async () => {
  const dir = await bbImage();
  const work = Deno.makeTempDirSync({ prefix: "mc-buildah-" });
  try {
    await m(["save", "-o", `${work}/bb.tar`, "bb:1"]);
    Deno.mkdirSync(`${work}/ctx`);
    Deno.writeTextFileSync(`${work}/ctx/f`, "file\n");
    Deno.writeTextFileSync(
      `${work}/ctx/Dockerfile`,
      `ARG BASE
FROM $BASE
ENV A=1 B="two words"
ENV C $A-x
WORKDIR /srv
WORKDIR app
COPY f ./
RUN echo built > /srv/app/g
USER 1000:1000
EXPOSE 80 53/udp 8080/tcp
LABEL x=y "k 2"=v
ENTRYPOINT ["/bin/cat"]
CMD /srv/app/f
`,
    );
    const ours = await m(["build", "-q", "--build-arg", "BASE=bb:1", "-t", "cmp:1", `${work}/ctx`]);
    assert.equal(ours.code, 0, ours.stderr);
    const buildah = `buildah --root ${work}/root --runroot ${work}/run --storage-driver vfs`;
    await sh(
      `${buildah} bud --isolation chroot -q --build-arg BASE=oci-archive:${work}/bb.tar -t cmp:1 ${work}/ctx >/dev/null`,
    );
    const theirs = JSON.parse(await sh(`${buildah} inspect --type image cmp:1`)).OCIv1.config;
    delete theirs.Labels["io.buildah.version"];
    const mine = JSON.parse((await m(["image", "inspect", "cmp:1"])).stdout)[0].Config;
    for (const k of ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels"]) {
      assert.deepEqual(mine[k], theirs[k], k);
    }
    assert.equal(
      (await m(["run", "--entrypoint", "cat", "cmp:1", "f", "/srv/app/g"])).stdout,
      "file\nbuilt\n",
    );
  } finally {
    await sh(`rm -rf ${work} ${dir}`).catch(() => {});
    base = "";
  }
});

addEventListener("unload", () => {
  try {
    Deno.removeSync(data, { recursive: true });
  } catch { /* not root: nothing was made */ }
});
