// Images: import, run, layers kept intact, hostile layers refused, rmi/prune.
import assert from "node:assert/strict";
import { extractLayer } from "../../lib/image/extract.ts";
import { mc, REPO, rootOnly, sh } from "./helpers.ts";

const data = Deno.makeTempDirSync({ prefix: "mc-data-" });
const env = { MINICONTAINER_DATA: data };
const m = (args: string[]) => mc(args, { env });

/** A tarball made by Python's tarfile, which writes any entry we ask for. */
async function pyTar(path: string, body: string): Promise<void> {
  await sh(`python3 - <<'EOF'
import tarfile, io
t = tarfile.open("${path}", "w")
def add(name, data=b"", kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data); i.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    t.addfile(i, io.BytesIO(data))
${body}
t.close()
EOF`);
}

let tarball = "";
async function bbTarball(): Promise<string> {
  if (tarball) return tarball;
  const dir = Deno.makeTempDirSync({ prefix: "mc-bb-" });
  await sh(
    `mkdir -p ${dir}/root/bin ${dir}/root/etc ${dir}/root/tmp && cp /bin/busybox ${dir}/root/bin/ && ` +
      `for a in sh cat ls echo id mkdir; do ln -s busybox ${dir}/root/bin/$a; done && ` +
      `echo 'root:x:0:0:root:/root:/bin/sh' > ${dir}/root/etc/passwd && echo 'from the image' > ${dir}/root/etc/motd && ` +
      `tar -C ${dir}/root -czf ${dir}/bb.tar.gz .`,
  );
  return (tarball = `${dir}/bb.tar.gz`);
}

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ ...rootOnly(name), fn });
}

test("image: import a rootfs tarball, list it, run it with the image's defaults", async () => {
  const imp = await m(["import", await bbTarball(), "bb:1"]);
  assert.equal(imp.code, 0, imp.stderr);
  assert.match(imp.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
  const list = (await m(["images", "--format", "json"])).stdout.trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(list.map((i) => `${i.Repository}:${i.Tag}`), ["bb:1"]);
  const r = await m(["run", "--rm", "bb:1", "cat", "/etc/motd"]);
  assert.equal(r.stdout, "from the image\n", r.stderr);
  // No command: the image's Cmd (/bin/sh) reads stdin (-i: it is the caller's).
  const shell = await mc(["run", "--rm", "-i", "bb:1"], { env, stdin: "echo from-cmd\n" });
  assert.equal(shell.stdout, "from-cmd\n");
});

test("image: a container's writes never reach the image's layers", async () => {
  await m(["import", await bbTarball(), "bb:2"]);
  const w = await m([
    "run",
    "--rm",
    "bb:2",
    "sh",
    "-c",
    "echo changed > /etc/motd; mkdir /newdir; cat /etc/motd",
  ]);
  assert.equal(w.stdout, "changed\n", w.stderr);
  assert.equal((await m(["run", "--rm", "bb:2", "cat", "/etc/motd"])).stdout, "from the image\n");
  assert.deepEqual(
    [...Deno.readDirSync(`${data}/containers`)],
    [],
    "container roots are removed",
  );
});

test("image: without overlayfs the layers are copied, and it says so", async () => {
  await m(["import", await bbTarball(), "bb:copy"]);
  const r = await mc([
    "run",
    "--rm",
    "bb:copy",
    "sh",
    "-c",
    "cat /etc/motd; echo changed > /etc/motd",
  ], {
    env: { ...env, MINICONTAINER_NO_OVERLAY: "1" },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "from the image\n");
  assert.match(r.stderr, /overlayfs is not available here; copying the image's layers/);
  assert.equal(
    (await m(["run", "--rm", "bb:copy", "cat", "/etc/motd"])).stdout,
    "from the image\n",
    "the layers are untouched",
  );
  assert.deepEqual(
    [...Deno.readDirSync(`${data}/containers`)],
    [],
    "the copy is removed with the container",
  );
  await m(["rmi", "bb:copy"]);
});

test("image: zstd tarballs import too", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mc-zst-" });
  await sh(
    `mkdir ${dir}/x && tar -C ${dir}/x -xzf ${await bbTarball()} && tar -C ${dir}/x -cf - . | zstd -q -o ${dir}/bb.tar.zst`,
  );
  assert.equal((await m(["import", `${dir}/bb.tar.zst`, "bbz"])).code, 0);
  assert.equal((await m(["run", "--rm", "bbz", "cat", "/etc/motd"])).stdout, "from the image\n");
});

test("image: hostile layers are refused by entry name and write nothing outside", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mc-evil-" });
  const outside = Deno.makeTempDirSync({ prefix: "mc-outside-" });
  await pyTar(
    `${dir}/dotdot.tar`,
    `add("ok.txt", b"ok")\nadd("../../../../../..${outside}/evil", b"pwned")`,
  );
  await pyTar(
    `${dir}/link.tar`,
    `add("escape", kind=tarfile.SYMTYPE, link="${outside}")\nadd("escape/evil", b"pwned")`,
  );
  for (
    const [file, message] of [["dotdot.tar", /would land outside the layer root/], [
      "link.tar",
      /written through the symlink escape/,
    ]] as const
  ) {
    const r = await m(["import", `${dir}/${file}`, "evil"]);
    assert.equal(r.code, 125, file);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
  assert.deepEqual([...Deno.readDirSync(outside)], [], "nothing written outside");
  assert.equal((await m(["images", "-q"])).stdout.includes("evil"), false);
  const layers = [...Deno.readDirSync(`${data}/images/layers`)].map((e) => e.name);
  assert.ok(layers.every((n) => !n.startsWith(".unpack-")), "no half-unpacked layer left");
});

test("image: whiteouts become what overlayfs reads", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mc-wh-" });
  await pyTar(
    `${dir}/wh.tar`,
    `add("etc", kind=tarfile.DIRTYPE)\nadd("etc/.wh.motd")\nadd("opaque", kind=tarfile.DIRTYPE)\nadd("opaque/.wh..wh..opq")`,
  );
  const dest = Deno.makeTempDirSync({ prefix: "mc-layer-" });
  await extractLayer((await Deno.open(`${dir}/wh.tar`)).readable, dest, "wh.tar");
  const info = Deno.lstatSync(`${dest}/etc/motd`);
  assert.ok(info.isCharDevice && info.rdev === 0, "a 0/0 character device hides etc/motd");
  const xattr = await new Deno.Command("getfattr", {
    args: ["-n", "trusted.overlay.opaque", "--only-values", `${dest}/opaque`],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  if (xattr) assert.equal(new TextDecoder().decode(xattr.stdout), "y");
});

test("image: hard links, device nodes, ownership, modes and mtimes survive extraction", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mc-kinds-" });
  await pyTar(
    `${dir}/kinds.tar`,
    [
      `i = tarfile.TarInfo("data"); i.size = 5; i.mode = 0o640; i.uid = 1234; i.gid = 4321; i.mtime = 1000000000; t.addfile(i, io.BytesIO(b"hello"))`,
      `add("alias", kind=tarfile.LNKTYPE, link="data")`,
      `i = tarfile.TarInfo("null"); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3; i.mode = 0o666; t.addfile(i)`,
      `add("fifo", kind=tarfile.FIFOTYPE)`,
    ].join("\n"),
  );
  const dest = Deno.makeTempDirSync({ prefix: "mc-layer-" });
  await extractLayer((await Deno.open(`${dir}/kinds.tar`)).readable, dest, "kinds.tar");
  const data = Deno.lstatSync(`${dest}/data`);
  assert.equal(data.mode! & 0o7777, 0o640);
  assert.deepEqual([data.uid, data.gid], [1234, 4321]);
  assert.equal(data.mtime!.getTime(), 1000000000 * 1000);
  assert.equal(Deno.lstatSync(`${dest}/alias`).ino, data.ino, "a hard link, not a copy");
  const node = Deno.lstatSync(`${dest}/null`);
  assert.ok(node.isCharDevice && node.rdev === ((1 << 8) | 3));
  assert.ok(Deno.lstatSync(`${dest}/fifo`).isFifo);
  Deno.removeSync(dir, { recursive: true });
  Deno.removeSync(dest, { recursive: true });
});

test("image: rmi frees its layers; unknown images are one sentence, exit 125", async () => {
  await m(["import", await bbTarball(), "gone:1"]);
  const before = [...Deno.readDirSync(`${data}/images/layers`)].length;
  for (const ref of ["bb:1", "bb:2", "bbz", "gone:1"]) await m(["rmi", ref]);
  const after = [...Deno.readDirSync(`${data}/images/layers`)].filter((e) => e.isDirectory).length;
  assert.ok(after < before, `${before} -> ${after}`);
  assert.equal(after, 0);
  const r = await m(["rmi", "nosuch:1"]);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^minicontainer: remove image nosuch:1: no such image$/m);
  const notImage = await m(["run", "--rm", "nosuch-image-or-command"]);
  assert.equal(notImage.code, 127, "a word that is no image is a command");
  const never = await m(["run", "--rm", "--pull", "never", "nosuch:1.0"]);
  assert.equal(never.code, 125);
  assert.equal(
    never.stderr.trim(),
    "minicontainer: run nosuch:1.0: no such image here (--pull never)",
  );
  // Not here: run pulls it (from Docker Hub, unreachable here: the cause is named).
  const missing = await m(["run", "--rm", "nosuch.invalid/nosuch:1.0"]);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /Unable to find image 'nosuch.invalid\/nosuch:1.0' locally/);
  assert.match(
    missing.stderr,
    /^minicontainer: reach registry nosuch.invalid: its name does not resolve \(DNS\)$/m,
  );
});

addEventListener("unload", () => {
  try {
    Deno.removeSync(data, { recursive: true });
  } catch { /* not root: nothing was made */ }
});

test("load: an OCI layout (directory and tar) and a docker save archive", async () => {
  const { ociLayout } = await import("./oci_fixture.ts");
  const dir = Deno.makeTempDirSync({ prefix: "mc-load-" });
  await ociLayout(`${dir}/oci`);
  const fromDir = await m(["load", "-i", `${dir}/oci`, "--name", "loaded"]);
  assert.equal(fromDir.code, 0, fromDir.stderr);
  assert.equal(fromDir.stdout.trim(), "Loaded image: loaded:1");
  assert.equal((await m(["run", "--rm", "loaded:1", "cat", "/etc/motd"])).stdout, "layer2\n");
  await sh(`tar -C ${dir}/oci -cf ${dir}/oci.tar .`);
  // From stdin too, as docker load reads it.
  const fromStdin = await new Deno.Command("sh", {
    args: ["-c", `${REPO}minicontainer load --name piped < ${dir}/oci.tar`],
    env,
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(fromStdin.stdout).trim(), "Loaded image: piped:1");
  const fromTar = await m(["load", "-i", `${dir}/oci.tar`, "--name", "fromtar"]);
  assert.equal(fromTar.stdout.trim(), "Loaded image: fromtar:1", fromTar.stderr);
  await sh(`skopeo copy -q oci:${dir}/oci:1 docker-archive:${dir}/saved.tar:saved/app:7`);
  const docker = await m(["load", "-i", `${dir}/saved.tar`]);
  assert.equal(docker.code, 0, docker.stderr);
  assert.equal(docker.stdout.trim(), "Loaded image: saved/app:7");
  assert.equal((await m(["run", "--rm", "saved/app:7", "cat", "/etc/motd"])).stdout, "layer2\n");
  for (const ref of ["loaded:1", "fromtar:1", "saved/app:7"]) {
    assert.equal((await m(["rmi", ref])).code, 0);
  }
  Deno.removeSync(dir, { recursive: true });
});

test("save then load gives the same files back; export writes a running container's files", async () => {
  await m(["import", await bbTarball(), "roundtrip:1"]);
  const dir = Deno.makeTempDirSync({ prefix: "mc-save-" });
  const saved = await m(["save", "-o", `${dir}/rt.tar`, "roundtrip:1"]);
  assert.equal(saved.code, 0, saved.stderr);
  // Another tool reads it: skopeo's oci-archive transport.
  await sh(`skopeo inspect oci-archive:${dir}/rt.tar > ${dir}/inspect.json`);
  assert.equal(JSON.parse(Deno.readTextFileSync(`${dir}/inspect.json`)).Layers.length, 1);
  assert.equal((await m(["rmi", "roundtrip:1"])).code, 0);
  const loaded = await m(["load", "-i", `${dir}/rt.tar`]);
  assert.equal(loaded.stdout.trim(), "Loaded image: roundtrip:1", loaded.stderr);
  assert.equal(
    (await m(["run", "--rm", "roundtrip:1", "cat", "/etc/motd"])).stdout,
    "from the image\n",
  );

  const root = Deno.makeTempDirSync({ prefix: "mc-state-" });
  const started = await mc([
    "--root",
    root,
    "run",
    "-d",
    "--name",
    "ex",
    "roundtrip:1",
    "sh",
    "-c",
    "echo live > /tmp/new; sleep 300",
  ], { env });
  assert.equal(started.code, 0, started.stderr);
  await new Promise((r) => setTimeout(r, 300));
  const exported = await mc(["--root", root, "export", "-o", `${dir}/ex.tar`, "ex"], { env });
  assert.equal(exported.code, 0, exported.stderr);
  const names = (await sh(`tar -tf ${dir}/ex.tar`)).split("\n");
  assert.ok(
    names.includes("etc/motd") && names.includes("bin/busybox"),
    names.slice(0, 10).join(" "),
  );
  assert.ok(
    names.includes("proc/") && !names.some((n) => n.startsWith("proc/1/")),
    "other mounts are not descended into",
  );
  const removed = await mc(["--root", root, "rm", "-f", "ex"], { env });
  assert.equal(removed.code, 0, removed.stderr);
  Deno.removeSync(root, { recursive: true });
  await m(["rmi", "roundtrip:1"]);
  Deno.removeSync(dir, { recursive: true });
});

test("identity: save twice gives the same bytes; save, rmi, load keeps the id, layers and manifest; --name's tag is kept", async () => {
  const imp = await m(["import", await bbTarball(), "ident:1"]);
  assert.equal(imp.code, 0, imp.stderr);
  const id = imp.stdout.trim();
  const dir = Deno.makeTempDirSync({ prefix: "mc-ident-" });
  const info = async (ref: string) => {
    const all = (await m(["images", "--format", "json"])).stdout.trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    return all.find((i) => `${i.Repository}:${i.Tag}` === ref);
  };
  await m(["save", "-o", `${dir}/a.tar`, "ident:1"]);
  await new Promise((r) => setTimeout(r, 1100)); // a later second: times must not leak in
  await m(["save", "-o", `${dir}/b.tar`, "ident:1"]);
  assert.equal(
    await sh(`sha256sum < ${dir}/a.tar`),
    await sh(`sha256sum < ${dir}/b.tar`),
    "two saves are byte for byte the same",
  );
  // The id is the config's digest, as skopeo reads it from the saved archive.
  const config = JSON.parse(await sh(`skopeo inspect --raw --config oci-archive:${dir}/a.tar`));
  assert.equal(config.rootfs.diff_ids.length, 1);
  const rawConfig = await sh(`skopeo inspect --raw --config oci-archive:${dir}/a.tar | sha256sum`);
  assert.equal(`sha256:${rawConfig.split(" ")[0]}`, id);
  const sizeBefore = (await info("ident:1")).Size;
  assert.ok(sizeBefore > 100_000, `size ${sizeBefore}`);

  // Another name for the same layers: each image shows its own full size.
  assert.equal((await m(["load", "-i", `${dir}/a.tar`, "--name", "other:5"])).code, 0);
  assert.equal((await info("ident:1")).Size, sizeBefore);

  assert.equal((await m(["rmi", "ident:1"])).code, 0);
  const loaded = await m(["load", "-i", `${dir}/a.tar`]);
  assert.equal(loaded.stdout.trim(), "Loaded image: ident:1", loaded.stderr);
  assert.equal((await info("ident:1")).FullID, id, "load keeps the image id");
  await m(["save", "-o", `${dir}/c.tar`, "ident:1"]);
  assert.equal(await sh(`sha256sum < ${dir}/c.tar`), await sh(`sha256sum < ${dir}/a.tar`));

  // A layout whose tag is bare: --name's tag is the one asked for.
  await sh(`mkdir ${dir}/lay && tar -C ${dir}/lay -xf ${dir}/a.tar && python3 -c "
import json; p='${dir}/lay/index.json'; d=json.load(open(p))
d['manifests'][0]['annotations']={'org.opencontainers.image.ref.name':'1'}
json.dump(d, open(p,'w'))" && rm ${dir}/lay/manifest.json`);
  const named = await m(["load", "-i", `${dir}/lay`, "--name", "renamed:9"]);
  assert.equal(named.stdout.trim(), "Loaded image: renamed:9", named.stderr);
  // No name at all: a dangling image, <none> <none>, found by its id.
  await sh(`python3 -c "
import json; p='${dir}/lay/index.json'; d=json.load(open(p)); del d['manifests'][0]['annotations']
json.dump(d, open(p,'w'))"`);
  await m(["rmi", "renamed:9", "other:5", "ident:1"]);
  const dangling = await m(["load", "-i", `${dir}/lay`]);
  assert.equal(dangling.code, 0, dangling.stderr);
  const table = (await m(["images"])).stdout;
  assert.match(table, new RegExp(`^<none> +<none> +${id.slice(7, 19)}`, "m"));
  assert.equal(
    (await m(["run", "--rm", id.slice(7, 19), "cat", "/etc/motd"])).stdout,
    "from the image\n",
  );
  assert.equal((await m(["rmi", id])).code, 0);
  Deno.removeSync(dir, { recursive: true });
});

test("rmi refuses an image a container uses unless -f; another name of it may go", async () => {
  await m(["import", await bbTarball(), "inuse:1"]);
  await m(["import", await bbTarball(), "spare:1"]); // another image (its own id: created differs)
  const root = Deno.makeTempDirSync({ prefix: "mc-state-" });
  const started = await mc(
    ["--root", root, "run", "-d", "--name", "user", "inuse:1", "sh", "-c", "sleep 300"],
    { env },
  );
  assert.equal(started.code, 0, started.stderr);
  try {
    const refused = await m(["rmi", "inuse:1"]);
    assert.equal(refused.code, 125);
    assert.match(
      refused.stderr,
      /^minicontainer: remove image inuse:1: container [0-9a-f]+ uses it; remove the container first, or use -f$/m,
    );
    assert.match((await m(["images"])).stdout, /^inuse /m, "still there");
    assert.equal((await m(["rmi", "spare:1"])).code, 0, "an image nothing uses goes");
    const forced = await m(["rmi", "-f", "inuse:1"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.doesNotMatch((await m(["images"])).stdout, /^inuse /m);
    const ps = await mc(["--root", root, "exec", "user", "cat", "/etc/motd"], { env });
    assert.equal(ps.stdout, "from the image\n", "the container keeps its layers");
  } finally {
    const removed = await mc(["--root", root, "rm", "-f", "user"], { env });
    Deno.removeSync(root, { recursive: true });
    // Unchecked, a failed rm left its `sleep 300` running for the next tests to trip on.
    assert.equal(removed.code, 0, removed.stderr);
  }
});
