// The run path's image API (lib/image/run_image.ts) against a real store and the real kernel:
// overlay options that fit a page for many layers, the copy fallback, prune and leases.
import assert from "node:assert/strict";
import {
  findLocalImage,
  MOUNT_DATA_MAX,
  overlayMountData,
  prepareImageRoot,
} from "../../lib/image/run_image.ts";
import { ImageStore } from "../../lib/image/store.ts";
import { writeTree } from "../../lib/image/tar_write.ts";
import { hostMounts, rootOnly, sh } from "./helpers.ts";

/** A layer tar of the files `files` (path → content), as a stream. */
async function layerTar(files: Record<string, string>): Promise<ReadableStream<Uint8Array>> {
  const dir = Deno.makeTempDirSync({ prefix: "mc-layer-" });
  try {
    for (const [path, text] of Object.entries(files)) {
      Deno.mkdirSync(`${dir}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
      Deno.writeTextFileSync(`${dir}/${path}`, text);
    }
    const parts: Uint8Array[] = [];
    await writeTree(dir, (c) => {
      parts.push(c.slice());
      return Promise.resolve();
    });
    return new Blob(parts as Uint8Array<ArrayBuffer>[]).stream();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Adds an image of `layers` to the store under `ref`. */
async function addImage(store: ImageStore, ref: string, layers: Record<string, string>[]) {
  const diffIds: string[] = [];
  for (const [i, files] of layers.entries()) {
    diffIds.push((await store.addLayer(await layerTar(files), `layer ${i}`)).diffId);
  }
  await store.register({
    ref,
    id: `sha256:${crypto.randomUUID().replaceAll("-", "").padEnd(64, "0")}`,
    layers: diffIds,
    config: { Cmd: ["sh"] },
    created: new Date().toISOString(),
    size: 0,
  });
  return diffIds;
}

/** Runs `fn` with MINICONTAINER_DATA (and more) set in this process, then restores them. */
async function withEnv(vars: Record<string, string>, fn: () => Promise<void>) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
  try {
    await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  }
}

const layerCount = (data: string) =>
  [...Deno.readDirSync(`${data}/images/layers`)].filter((e) =>
    e.isDirectory && !e.name.startsWith(".")
  )
    .length;

Deno.test({
  ...rootOnly(
    "image root: 120 layers mount as one overlay (relative lowerdirs, a chdir) and prune waits for the container",
  ),
  async fn() {
    const data = Deno.makeTempDirSync({ prefix: "mc-data-" });
    try {
      await withEnv({ MINICONTAINER_DATA: data }, async () => {
        const store = new ImageStore(`${data}/images`);
        const layers: Record<string, string>[] = [];
        for (let i = 0; i < 120; i++) layers.push({ [`f${i}`]: `layer ${i}\n` });
        layers[0].gone = "bottom\n";
        layers[119][".wh.gone"] = "";
        await addImage(store, "many:1", layers);

        const image = findLocalImage("many:1");
        assert.ok(image && !(image instanceof Promise), "found synchronously");
        assert.equal(findLocalImage("many:2"), undefined);
        const root = await prepareImageRoot(image, "c".repeat(64));
        assert.equal(root.copied, false);
        assert.equal(root.lowerdirs.length, 120);
        assert.ok(
          root.lowerdirs.join(":").length > MOUNT_DATA_MAX,
          "absolute lowerdirs would not fit in one page here",
        );
        const { data: options, chdir } = overlayMountData(root);
        assert.equal(chdir, `${data}/images/layers`);
        assert.ok(options.length <= MOUNT_DATA_MAX, `${options.length} bytes`);

        const before = hostMounts();
        const out = await sh(
          `unshare -m sh -c 'cd ${chdir} && mount -t overlay overlay -o "${options}" ${root.rootfs} && ` +
            `cat ${root.rootfs}/f0 ${root.rootfs}/f119 && ls ${root.rootfs} | wc -l && ` +
            `echo written > ${root.rootfs}/f0 && ls ${root.rootfs}/gone 2>&1 || true'`,
        );
        assert.deepEqual(out.trim().split("\n").slice(0, 3), ["layer 0", "layer 119", "120"]);
        assert.match(out, /No such file or directory/, "the top layer's whiteout hides gone");
        assert.deepEqual(hostMounts(), before, "nothing stays mounted on the host");
        assert.equal(Deno.readTextFileSync(`${root.upperdir}/f0`), "written\n");
        assert.equal(
          Deno.readTextFileSync(`${root.lowerdirs.at(-1)}/f0`),
          "layer 0\n",
          "writes stay in the container's upper directory",
        );

        // rmi while the container exists is refused; with -f its layers stay until its root goes.
        await assert.rejects(store.remove("many:1"), /uses it; remove the container first/);
        assert.equal(await store.remove("many:1", true), 0);
        assert.equal(layerCount(data), 120);
        await root.remove();
        assert.throws(() => Deno.lstatSync(root.rootfs), Deno.errors.NotFound);
        assert.equal(await store.prune(), 120);
        assert.equal(layerCount(data), 0);
      });
    } finally {
      Deno.removeSync(data, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly(
    "image root: without overlayfs the layers are copied (whiteouts applied), copied is true",
  ),
  async fn() {
    const data = Deno.makeTempDirSync({ prefix: "mc-data-" });
    try {
      await withEnv({ MINICONTAINER_DATA: data, MINICONTAINER_NO_OVERLAY: "1" }, async () => {
        const store = new ImageStore(`${data}/images`);
        await addImage(store, "two:1", [
          { "etc/motd": "one\n", "etc/old": "old\n" },
          { "etc/motd": "two\n", "etc/.wh.old": "" },
        ]);
        const root = await prepareImageRoot(findLocalImage("two:1")!, "d".repeat(64));
        assert.equal(root.copied, true);
        assert.equal(Deno.readTextFileSync(`${root.rootfs}/etc/motd`), "two\n");
        assert.throws(() => Deno.lstatSync(`${root.rootfs}/etc/old`), Deno.errors.NotFound);
        await root.remove();
        assert.deepEqual([...Deno.readDirSync(`${data}/containers`)], []);
      });
    } finally {
      Deno.removeSync(data, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly("image root: a missing layer is one sentence and leaves no container directory"),
  async fn() {
    const data = Deno.makeTempDirSync({ prefix: "mc-data-" });
    try {
      await withEnv({ MINICONTAINER_DATA: data }, async () => {
        const store = new ImageStore(`${data}/images`);
        const [diffId] = await addImage(store, "lost:1", [{ a: "a\n" }]);
        Deno.removeSync(`${store.layerDir(diffId)}.ok`);
        await assert.rejects(
          prepareImageRoot(findLocalImage("lost:1")!, "e".repeat(64)),
          new RegExp(`prepare root of lost:1: layer ${diffId} is missing from the store`),
        );
        assert.throws(() => Deno.lstatSync(`${data}/containers/${"e".repeat(64)}`));
      });
    } finally {
      Deno.removeSync(data, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly("image store: prune keeps a live lease's unregistered layers, not a dead one's"),
  async fn() {
    const data = Deno.makeTempDirSync({ prefix: "mc-data-" });
    try {
      const store = new ImageStore(`${data}/images`);
      const lease = store.lease();
      const { diffId } = await store.addLayer(
        await layerTar({ x: "x\n" }),
        "leased",
        undefined,
        lease,
      );
      assert.equal(await store.prune(), 0, "a pull in progress keeps its layer");
      assert.ok(store.hasLayer(diffId));
      // The same lease left by a process that died: prune drops it and the layer.
      const pidMax = Number(Deno.readTextFileSync("/proc/sys/kernel/pid_max"));
      for (const e of Deno.readDirSync(`${data}/images/leases`)) {
        Deno.renameSync(
          `${data}/images/leases/${e.name}`,
          `${data}/images/leases/${pidMax + 1}-dead.json`,
        );
      }
      assert.equal(await store.prune(), 1);
      assert.equal(store.hasLayer(diffId), false);
      assert.deepEqual([...Deno.readDirSync(`${data}/images/leases`)], []);
      lease.release();
    } finally {
      Deno.removeSync(data, { recursive: true });
    }
  },
});
