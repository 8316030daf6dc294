// The default rootfs builder, for real: the built trees run in a chroot.
import assert from "node:assert/strict";
import { buildRootfs, isReady } from "../../lib/rootfs/build.ts";
import { resolveSharedLibraries } from "../../lib/rootfs/elf.ts";
import { ContainerError } from "../../lib/errors.ts";
import { rootOnly } from "./helpers.ts";

const BUILD_MODULE = new URL("../../lib/rootfs/build.ts", import.meta.url).href;

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
        if (source === "host") {
          // Each library (and the loader) where ls asks for it, e.g. .../libc.so.6.
          const libs = resolveSharedLibraries(["/usr/bin/ls"]);
          assert.ok(libs.some((l) => l.endsWith("/libc.so.6")), libs.join(","));
          for (const lib of libs) assert.ok(Deno.statSync(`${parent}/root${lib}`).isFile, lib);
          assert.equal(Deno.readLinkSync(`${parent}/root/bin/sh`), "../usr/bin/sh");
          const mount = Deno.statSync(`${parent}/root/usr/bin/mount`).mode!;
          assert.equal(mount & 0o6000, 0, "no setuid copy of mount on the host");
          assert.ok(mount & 0o100, "mount stays executable");
        }
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

for (const source of ["busybox", "host"] as const) {
  Deno.test({
    ...rootOnly(`rootfs build from ${source}: racing processes all end with one usable tree`),
    async fn() {
      const parent = Deno.makeTempDirSync();
      const script = `import { buildRootfs } from "${BUILD_MODULE}";
        await buildRootfs(${JSON.stringify(`${parent}/root`)}, { source: "${source}" });`;
      try {
        const runs = await Promise.all(
          [1, 2, 3].map(() =>
            new Deno.Command(Deno.execPath(), {
              args: ["eval", script],
              stdout: "piped",
              stderr: "piped",
            }).output()
          ),
        );
        for (const r of runs) assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
        assert.ok(isReady(`${parent}/root`));
        assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["root"]);
        await inChroot(`${parent}/root`, "true");
      } finally {
        Deno.removeSync(parent, { recursive: true });
      }
    },
  });
}

for (const source of ["busybox", "host"] as const) {
  Deno.test({
    ...rootOnly(`rootfs build from ${source}: running out of space half-way leaves nothing`),
    async fn() {
      // A tmpfs too small for busybox or libc: the build fails after it has started writing.
      const mnt = Deno.makeTempDirSync();
      const mount = (args: string[]) =>
        new Deno.Command(args[0], { args: args.slice(1) }).outputSync();
      assert.ok(mount(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]).success);
      try {
        await assert.rejects(
          () => buildRootfs(`${mnt}/a/b/root`, { source }),
          (e) =>
            e instanceof ContainerError && e.errno === 28 &&
            e.message.startsWith(`build rootfs ${mnt}/a/b/root: `),
        );
        assert.deepEqual([...Deno.readDirSync(mnt)], [], "no temp dir, no parents");
      } finally {
        mount(["umount", mnt]);
        Deno.removeSync(mnt);
      }
    },
  });
}

Deno.test({
  ...rootOnly("rootfs build: a directory in the way is refused and left as it was"),
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
