// Paths inside a container are resolved inside it, when used: symlinks a
// container plants (or swaps while others start), "..", magic links and "/"
// in every path-like flag never make the runtime create or mount anything on
// the host.
import assert from "node:assert/strict";
import { hostMounts, IS_ROOT, mc, rootOnly, sh, spawnMc, TEST_HOME } from "./helpers.ts";

const base = Deno.makeTempDirSync({ prefix: "mc-paths-" });
Deno.chmodSync(base, 0o755);
/** A host directory an escape would write into: it must stay empty. */
const HOST = `${base}/host`;
const VOL = `${base}/vol`;
const FILE = `${base}/file`;
const DIR = `${base}/dir`;
if (IS_ROOT) {
  for (const d of [HOST, VOL, DIR]) Deno.mkdirSync(d, { mode: 0o755 });
  Deno.writeTextFileSync(FILE, "from the host file\n");
  Deno.writeTextFileSync(`${DIR}/marker`, "");
}

/** Everything under HOST: what an escape would leave. */
function hostSide(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      found.push(`${dir}/${e.name}`);
      if (e.isDirectory) walk(`${dir}/${e.name}`);
    }
  };
  walk(HOST);
  return found;
}

/** A run that either worked or was refused in one sentence; never anything in between. */
function workedOrRefused(r: { code: number; stderr: string }, what: string): boolean {
  if (r.code === 0) return true;
  assert.equal(r.code, 125, `${what}: ${r.stderr}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: ${r.stderr}`);
  assert.match(r.stderr, /^minicontainer: .+: .+/, what);
  return false;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test(
  rootOnly(
    "paths: symlinks planted in a volume never make the runtime create on the host (file, directory, -w, --device)",
  ),
  async () => {
    const before = hostMounts();
    // Step one: a container plants links to the host directory, absolute and relative.
    const plant = await mc([
      "run",
      "-v",
      `${VOL}:/data`,
      "sh",
      "-c",
      `ln -s ${HOST} /data/abs && ln -s ../../../../../../../..${HOST} /data/rel && ` +
      `ln -s / /data/root && ln -s /etc /data/etc && ln -s ../../../.. /data/up`,
    ]);
    assert.equal(plant.code, 0, plant.stderr);
    // Step two: later containers mount and create through them.
    for (const link of ["abs", "rel", "root/data/abs", "up/data/rel", "etc"]) {
      const attempts: [string, string[]][] = [
        ["file target", ["-v", `${FILE}:/data/${link}/app.conf`, "cat", `/data/${link}/app.conf`]],
        ["directory target", ["-v", `${DIR}:/data/${link}/sub/dir`, "ls", `/data/${link}/sub/dir`]],
        ["-w", ["-w", `/data/${link}/work/dir`, "pwd"]],
        ["--device", ["--device", `/dev/null:/data/${link}/null`, "true"]],
      ];
      for (const [what, flags] of attempts) {
        const r = await mc(["run", "-v", `${VOL}:/data`, ...flags]);
        if (workedOrRefused(r, `${link} ${what}`)) {
          if (what === "file target") assert.equal(r.stdout, "from the host file\n");
          if (what === "directory target") assert.equal(r.stdout, "marker\n");
        }
        assert.deepEqual(hostSide(), [], `${link} ${what}`);
      }
    }
    // Through /etc the file lands on the container's /etc (an overlay), not the host's.
    assert.ok(!exists("/etc/app.conf"));
    assert.ok(!exists("/etc/sub"));
    assert.deepEqual(hostMounts(), before);
  },
);

Deno.test(
  rootOnly(
    "paths: a directory and a link out of the container swapped in a loop while 30 containers start",
  ),
  async () => {
    // The probe swaps /data/a (a directory) and /data/b (a link to HOST)
    // with renameat2(RENAME_EXCHANGE), from inside a container, until told to stop.
    await mc(["run", "true"]); // the default rootfs, built before the concurrent starts
    const probes = `${base}/probes`;
    Deno.mkdirSync(probes);
    const src = new URL("./flip.c", import.meta.url).pathname;
    await sh(`cc -static -O2 -o ${probes}/flip ${src}`);
    const vol = `${base}/race`;
    Deno.mkdirSync(`${vol}/a`, { recursive: true });
    Deno.symlinkSync(HOST, `${vol}/b`);
    const flipping = spawnMc(
      ["run", "-v", `${vol}:/data`, "-v", `${probes}:/probe:ro`, "/probe/flip"].concat(
        ["/data/a", "/data/b", "/data/stop"],
      ),
    );
    try {
      const kinds: string[][] = [
        ["-v", `${FILE}:/data/a/app.conf`],
        ["-v", `${DIR}:/data/a/sub`],
        ["-w", "/data/a/work"],
        ["--device", "/dev/null:/data/a/null"],
      ];
      let worked = 0;
      for (let round = 0; round < 10; round++) {
        const batch = [0, 1, 2].map((k) =>
          mc(["run", "-v", `${vol}:/data`, ...kinds[(round * 3 + k) % kinds.length], "true"])
        );
        for (const r of await Promise.all(batch)) {
          if (workedOrRefused(r, "a start during the swaps")) worked++;
        }
        assert.deepEqual(hostSide(), []);
      }
      // Both outcomes happen: the swaps really raced the starts.
      assert.ok(worked > 0, "no start got through");
    } finally {
      Deno.writeTextFileSync(`${vol}/stop`, "");
      const out = await flipping.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.ok(Number(new TextDecoder().decode(out.stdout)) > 0, "the probe never swapped");
    }
  },
);

Deno.test(
  rootOnly(
    "paths: --device and mount targets with .. and rootfs symlinks land inside the container",
  ),
  async () => {
    const name = `mc-paths-${crypto.randomUUID().slice(0, 8)}`;
    Deno.writeTextFileSync(`${VOL}/vol-marker`, "");
    const dev = await mc([
      "run",
      "--device",
      `/dev/null:/dev/../../../../tmp/${name}`,
      "-v",
      `${VOL}:/x/../../../../tmp/${name}-vol`,
      "sh",
      "-c",
      `ls -l /tmp/${name} && ls /tmp/${name}-vol`,
    ]);
    assert.equal(dev.code, 0, dev.stderr);
    assert.match(dev.stdout, /^c.* 1, +3 .*\n/);
    assert.match(dev.stdout, /\bvol-marker\b/);
    assert.ok(!exists(`/tmp/${name}`) && !exists(`/tmp/${name}-vol`));

    // A rootfs of our own with links out of it, absolute and relative.
    await mc(["run", "true"]); // the default rootfs, built
    const rootfs = `${base}/rootfs`;
    await sh(`cp -a ${TEST_HOME}/data/rootfs/default ${rootfs}`);
    Deno.symlinkSync(HOST, `${rootfs}/abs`);
    Deno.symlinkSync(`../../../../../../..${HOST}`, `${rootfs}/rel`);
    Deno.symlinkSync("/etc", `${rootfs}/etc-link`);
    for (const link of ["abs", "rel", "etc-link"]) {
      for (
        const flags of [
          ["--device", `/dev/null:/${link}/null`],
          ["--device", `/dev/null:/${link}/../${link}/sub/null`],
          ["-v", `${FILE}:/${link}/app.conf`],
          ["-v", `${DIR}:/${link}/sub`],
          ["-w", `/${link}/work`],
        ]
      ) {
        const r = await mc(["run", "--rootfs", rootfs, ...flags, "true"]);
        workedOrRefused(r, `${link} ${flags.join(" ")}`);
        assert.deepEqual(hostSide(), [], `${link} ${flags.join(" ")}`);
      }
    }
    // Through the rootfs's /etc link: the rootfs's /etc, never the host's.
    assert.ok(exists(`${rootfs}/etc/null`) && !exists("/etc/null"));
    assert.ok(!exists("/etc/app.conf") && !exists("/etc/sub"));
  },
);

Deno.test(
  rootOnly("paths: / as a destination and magic links are refused in one sentence"),
  async () => {
    const before = hostMounts();
    const cases: [string[], RegExp][] = [
      [["-v", "/:/"], /^minicontainer: mount destination \/: cannot be the container's \/$/],
      [["-v", `${VOL}:/`], /^minicontainer: mount destination \/: cannot be the container's \/$/],
      [["-v", `${VOL}:/a/../..`], /mount destination \/a\/..\/..: cannot be the container's \//],
      [["-v", `${VOL}:/.`], /mount destination \/.: cannot be the container's \//],
      [
        ["--device", "/dev/null:/dev/.."],
        /^minicontainer: device \/dev\/..: cannot be the container's \/$/,
      ],
      [["-d", "-v", "/:/"], /mount destination \/: cannot be the container's \//],
      // An fd the runtime held would be a way out (runc's CVE-2024-21626): no magic links.
      [
        ["-w", "/proc/self/cwd"],
        /working directory \/proc\/self\/cwd: Too many levels of symbolic links$/,
      ],
      [["-w", "/proc/1/root/tmp"], /Too many levels of symbolic links$/],
    ];
    for (const [flags, message] of cases) {
      const r = await mc(["run", ...flags, "true"]);
      assert.equal(r.code, 125, `${flags.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr.trim(), message);
    }
    assert.deepEqual(hostMounts(), before);
    // Sanity: the host's root at any other place is docker's behaviour, allowed.
    const host = await mc(["run", "-v", "/:/host:ro", "ls", "/host/proc/1"]);
    assert.equal(host.code, 0, host.stderr);
  },
);

Deno.test(
  rootOnly(
    "paths: an image's layers with links out of the container: targets resolve in its overlay",
  ),
  async () => {
    await mc(["run", "true"]); // the default rootfs, built
    const tree = `${base}/image-tree`;
    await sh(`cp -a ${TEST_HOME}/data/rootfs/default ${tree}`);
    Deno.symlinkSync(HOST, `${tree}/abs`);
    Deno.symlinkSync(`../../../../../..${HOST}`, `${tree}/rel`);
    Deno.symlinkSync("/etc", `${tree}/etc-link`);
    await sh(`tar -C ${tree} -cf ${base}/image.tar .`);
    const imported = await mc(["import", `${base}/image.tar`, "paths-links:1"]);
    assert.equal(imported.code, 0, imported.stderr);
    try {
      for (const link of ["abs", "rel", "etc-link"]) {
        for (
          const flags of [
            ["-v", `${FILE}:/${link}/app.conf`],
            ["-v", `${DIR}:/${link}/sub`],
            ["--device", `/dev/null:/${link}/null`],
            ["-w", `/${link}/work`],
          ]
        ) {
          const r = await mc(["run", ...flags, "paths-links:1", "true"]);
          workedOrRefused(r, `${link} ${flags.join(" ")}`);
          assert.deepEqual(hostSide(), [], `${link} ${flags.join(" ")}`);
        }
      }
      // Through the image's /etc link: the container's /etc.
      const r = await mc([
        "run",
        "-v",
        `${FILE}:/etc-link/app.conf`,
        "paths-links:1",
        "cat",
        "/etc/app.conf",
      ]);
      assert.equal(r.stdout, "from the host file\n", r.stderr);
      assert.ok(!exists("/etc/app.conf"));
    } finally {
      await mc(["rmi", "paths-links:1"]);
    }
  },
);

Deno.test(
  rootOnly("paths: a destination that is a symlink to the container's / is refused, bind or not"),
  async () => {
    const root = `${base}/rootfs-linked`;
    const built = await mc(["rootfs", "build", root]);
    assert.equal(built.code, 0, built.stderr);
    // The image's own symlinks to its root, direct and through "..".
    Deno.symlinkSync("/", `${root}/data`);
    Deno.symlinkSync("etc/..", `${root}/cfg`);
    const before = hostMounts();
    for (
      const flags of [
        ["--tmpfs", "/data"],
        ["--mount", "type=tmpfs,destination=/cfg"],
        ["-v", `${VOL}:/data`],
        ["-v", `${VOL}:/cfg:ro`],
      ]
    ) {
      const r = await mc(["run", "--rm", "--rootfs", root, ...flags, "true"]);
      assert.equal(r.code, 125, `${flags.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /resolve \/(data|cfg) in the container: Device or resource busy/);
    }
    assert.deepEqual(hostMounts(), before);
    // A symlink to another directory of the root is still followed inside it.
    Deno.symlinkSync("/srv", `${root}/srvlink`);
    Deno.mkdirSync(`${root}/srv`, { recursive: true });
    const ok = await mc([
      "run",
      "--rm",
      "--rootfs",
      root,
      "--tmpfs",
      "/srvlink",
      "sh",
      "-c",
      "grep -c ' /srv ' /proc/mounts",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), "1");
  },
);

Deno.test(
  rootOnly("paths: exec -w is resolved in the container: no magic links, links stay inside"),
  async () => {
    const name = `paths-${crypto.randomUUID().slice(0, 8)}`;
    const start = await mc(["run", "-d", "--name", name, "-v", `${VOL}:/data`, "sleep", "30"]);
    assert.equal(start.code, 0, start.stderr);
    try {
      await mc(["exec", name, "sh", "-c", `mkdir -p /data/in && ln -sfn ${HOST} /data/out-link`]);
      const ok = await mc(["exec", "-w", "/data/in/../in", name, "pwd"]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, "/data/in\n");
      for (const cwd of ["/proc/self/cwd", "/proc/1/root/data", "/data/out-link"]) {
        const r = await mc(["exec", "-w", cwd, name, "pwd"]);
        assert.equal(r.code, 125, `${cwd}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`working directory ${cwd}: (Too many levels|No such file)`),
        );
      }
      assert.deepEqual(hostSide(), []);
    } finally {
      await mc(["rm", "-f", name]);
    }
  },
);

globalThis.addEventListener("unload", () => {
  if (IS_ROOT) Deno.removeSync(base, { recursive: true });
});
