// The default rootfs builder, for real: the built trees run in a chroot.
import assert from "node:assert/strict";
import { buildRootfs, isReady } from "../../lib/rootfs/build.ts";
import { rootOnly } from "./helpers.ts";

async function inChroot(root: string, script: string): Promise<string> {
  const out = await new Deno.Command("chroot", {
    args: [root, "/bin/sh", "-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

for (const source of ["busybox", "host"] as const) {
  Deno.test({
    ...rootOnly(`rootfs build from ${source}: the tree runs on its own`),
    async fn() {
      const parent = Deno.makeTempDirSync();
      try {
        const report = await buildRootfs(`${parent}/root`, { source });
        assert.equal(report.source, source);
        assert.ok(isReady(`${parent}/root`));
        const out = await inChroot(`${parent}/root`, "echo ok; ls /; cat /etc/passwd; id -u");
        assert.match(out, /^ok$/m);
        for (const d of ["bin", "dev", "etc", "proc", "sys", "tmp"]) {
          assert.match(out, new RegExp(`^${d}$`, "m"));
        }
        assert.match(out, /^root:x:0:0:root:\/root:\/bin\/sh$/m);
        assert.equal(Deno.statSync(`${parent}/root/tmp`).mode! & 0o7777, 0o1777);
        if (source === "busybox") {
          assert.ok(
            !Deno.readLinkSync(`${parent}/root/bin/sh`).startsWith("/"),
            "applet links are relative",
          );
          assert.equal(
            Deno.realPathSync(`${parent}/root/bin/sh`),
            Deno.realPathSync(`${parent}/root/bin/busybox`),
          );
        }
        assert.deepEqual(
          [...Deno.readDirSync(parent)].map((e) => e.name),
          ["root"],
          "no temp dir left",
        );
      } finally {
        Deno.removeSync(parent, { recursive: true });
      }
    },
  });
}

Deno.test({
  ...rootOnly("rootfs build: racing builds both end with one usable tree"),
  async fn() {
    const parent = Deno.makeTempDirSync();
    try {
      await Promise.all([buildRootfs(`${parent}/root`), buildRootfs(`${parent}/root`)]);
      assert.ok(isReady(`${parent}/root`));
      assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["root"]);
      await inChroot(`${parent}/root`, "true");
    } finally {
      Deno.removeSync(parent, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly("rootfs build: a failure leaves nothing behind"),
  async fn() {
    const parent = Deno.makeTempDirSync();
    try {
      Deno.mkdirSync(`${parent}/root/not-a-rootfs`, { recursive: true });
      await assert.rejects(() => buildRootfs(`${parent}/root`), /is not a finished rootfs/);
      assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["root"]);
      assert.deepEqual([...Deno.readDirSync(`${parent}/root`)].map((e) => e.name), [
        "not-a-rootfs",
      ]);
    } finally {
      Deno.removeSync(parent, { recursive: true });
    }
  },
});
