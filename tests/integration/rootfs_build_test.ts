// The default rootfs builder, for real: the built trees run in a chroot.
import assert from "node:assert/strict";
import { buildRootfs, HOST_TOOLS, isReady } from "../../lib/rootfs/build.ts";
import { resolveSharedLibraries } from "../../lib/rootfs/elf.ts";
import { ContainerError } from "../../lib/errors.ts";
import { mc, rootOnly } from "./helpers.ts";

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

Deno.test({
  ...rootOnly("rootfs build --from-host: the README's commands run in a container on the tree"),
  async fn() {
    const parent = Deno.makeTempDirSync();
    Deno.chmodSync(parent, 0o755);
    try {
      const built = await mc(["rootfs", "build", "--from-host", `${parent}/root`]);
      assert.equal(built.code, 0, built.stderr);
      // The summary names what the host lacked (none here: every tool is on this host).
      assert.match(built.stdout, /^built .* from host: \d+ files\n$/);
      const script = [
        "true",
        "! false",
        "env | grep -q ^PATH=",
        'test "$(echo abc | tr b x)" = axc',
        '[ "$(printf "1\\n2\\n3\\n" | head -2 | tail -1)" = 2 ]',
        'test "$(seq 3 | wc -l)" = 3',
        "date +%Y >/dev/null",
        "sleep 0",
        "ps -o pid= -p 1 >/dev/null",
        'test "$(id -u)" = 0 && test "$(whoami)" = root',
        "mkdir -p /tmp/a/b && touch /tmp/a/b/f && ls /tmp/a/b | grep -qx f && rm -r /tmp/a",
        "cat /etc/passwd | cut -d: -f1 | sort | uniq | grep -qx root",
        "echo hi | sed s/hi/ho/ | tee /tmp/t | grep -qx ho && cp /tmp/t /tmp/u && mv /tmp/u /tmp/v",
        "ln -s /tmp/v /tmp/w && readlink /tmp/w | grep -q v && stat /tmp/v >/dev/null",
        "chmod 600 /tmp/v && chown 0:0 /tmp/v && find /tmp -name v | grep -q v",
        "dd if=/dev/zero of=/tmp/z bs=1k count=1 2>/dev/null && du /tmp/z >/dev/null && df / >/dev/null",
        'test "$(basename /a/b)" = b && test "$(dirname /a/b)" = /a && test "$(expr 2 + 2)" = 4',
        "yes | head -1 | grep -qx y && echo x | xargs echo | grep -qx x",
        "hostname >/dev/null && uname -s | grep -qx Linux && nproc >/dev/null && pwd >/dev/null",
        "mount | grep -q proc && timeout 5 true",
        "ip link show lo >/dev/null",
        "rmdir /tmp 2>/dev/null; kill -0 $$",
        "echo all-ran",
      ].join(" && ");
      const run = await mc([
        "run",
        "--rootfs",
        `${parent}/root`,
        "sh",
        "-c",
        script,
      ]);
      assert.equal(run.stdout, "all-ran\n", run.stderr);
      // Each tool is a real file in the tree, not borrowed from elsewhere.
      for (const tool of HOST_TOOLS) {
        const there = ["/bin", "/usr/bin", "/sbin", "/usr/sbin"].some((d) => {
          try {
            return Deno.statSync(`${parent}/root${d}/${tool}`).isFile;
          } catch {
            return false;
          }
        });
        assert.ok(there, tool);
      }
    } finally {
      Deno.removeSync(parent, { recursive: true });
    }
  },
});
