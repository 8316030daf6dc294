// cp between the host and real containers, and attacks through symlinks the
// container plants: a container path never leads onto the host.
import assert from "node:assert/strict";
import { withStateRoot } from "./helpers.ts";

const tmp = () => Deno.makeTempDirSync({ prefix: "mc-cp-" });

/** A host directory holding a secret the container must never reach through cp. */
function hostSecret(): string {
  const dir = tmp();
  Deno.writeTextFileSync(`${dir}/secret`, "host secret\n");
  Deno.writeTextFileSync(`${dir}/victim`, "keep\n");
  return dir;
}

withStateRoot("cp: a directory in and out again, modes and symlinks kept", async (m) => {
  const id = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
  const host = tmp();
  try {
    Deno.mkdirSync(`${host}/src/sub`, { recursive: true });
    Deno.writeTextFileSync(`${host}/src/sub/run.sh`, "#!/bin/sh\necho ran\n");
    Deno.chmodSync(`${host}/src/sub/run.sh`, 0o750);
    Deno.symlinkSync("sub/run.sh", `${host}/src/link`);
    const cpIn = await m(["cp", `${host}/src`, `${id}:/tmp`]);
    assert.equal(cpIn.code, 0, cpIn.stderr);
    const inside = await m(["exec", id, "sh", "-c", "/tmp/src/sub/run.sh; readlink /tmp/src/link"]);
    assert.equal(inside.stdout, "ran\nsub/run.sh\n");
    // A file to a new name, and into a directory.
    assert.equal((await m(["cp", `${host}/src/sub/run.sh`, `${id}:/tmp/renamed`])).code, 0);
    assert.equal((await m(["exec", id, "cat", "/tmp/renamed"])).stdout, "#!/bin/sh\necho ran\n");
    const out = await m(["cp", `${id}:/tmp/src`, `${host}/back`]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(Deno.readTextFileSync(`${host}/back/sub/run.sh`), "#!/bin/sh\necho ran\n");
    assert.equal(Deno.statSync(`${host}/back/sub/run.sh`).mode! & 0o777, 0o750);
    assert.equal(Deno.readLinkSync(`${host}/back/link`), "sub/run.sh");
    // SRC/. copies the contents into an existing directory.
    Deno.mkdirSync(`${host}/into`);
    assert.equal((await m(["cp", `${id}:/tmp/src/.`, `${host}/into`])).code, 0);
    assert.deepEqual([...Deno.readDirSync(`${host}/into`)].map((e) => e.name).sort(), [
      "link",
      "sub",
    ]);
  } finally {
    Deno.removeSync(host, { recursive: true });
  }
});

withStateRoot(
  "cp out: a planted symlink is copied as a link, never followed onto the host",
  async (m) => {
    const secret = hostSecret();
    const host = tmp();
    try {
      const id = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
      await m([
        "exec",
        id,
        "sh",
        "-c",
        `ln -s ${secret} /esc; ln -s ../../../../../../..${secret} /up; ln -s ${secret}/secret /leak`,
      ]);
      for (const path of ["/esc/secret", "/up/secret"]) {
        const r = await m(["cp", `${id}:${path}`, `${host}/out`]);
        assert.equal(r.code, 125, `${path}: ${r.stdout}`);
        assert.match(r.stderr, /No such file or directory/);
        assert.throws(() => Deno.lstatSync(`${host}/out`), Deno.errors.NotFound);
      }
      const leak = await m(["cp", `${id}:/leak`, `${host}/leak`]);
      assert.equal(leak.code, 0, leak.stderr);
      assert.ok(Deno.lstatSync(`${host}/leak`).isSymlink, "the link itself, not its target");
      // A directory holding the links: each stays a link.
      await m(["exec", id, "sh", "-c", `mkdir /box && ln -s ${secret} /box/d && ln -s / /box/r`]);
      assert.equal((await m(["cp", `${id}:/box`, `${host}/box`])).code, 0);
      assert.ok(Deno.lstatSync(`${host}/box/d`).isSymlink);
      assert.ok(Deno.lstatSync(`${host}/box/r`).isSymlink);
    } finally {
      Deno.removeSync(secret, { recursive: true });
      Deno.removeSync(host, { recursive: true });
    }
  },
);

withStateRoot("cp in: planted and racing symlinks never write onto the host", async (m) => {
  const secret = hostSecret();
  const host = tmp();
  try {
    Deno.writeTextFileSync(`${host}/payload`, "from cp\n");
    const id = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
    await m([
      "exec",
      id,
      "sh",
      "-c",
      `mkdir -p ${secret} && ln -s ${secret} /esc && ln -s ${secret}/victim /tmp/victim`,
    ]);
    // Through a directory link: lands in the container's own copy of that path.
    const dir = await m(["cp", `${host}/payload`, `${id}:/esc/new`]);
    assert.equal(dir.code, 0, dir.stderr);
    assert.equal((await m(["exec", id, "cat", `${secret}/new`])).stdout, "from cp\n");
    // A leaf link to a host path: refused, not followed.
    const leaf = await m(["cp", `${host}/payload`, `${id}:/tmp/victim`]);
    assert.equal(leaf.code, 125);
    assert.match(leaf.stderr, /not a regular file/);
    // A loop in the container swaps /r/d between a directory and a link to the host, 30 copies race it.
    await m([
      "exec",
      "-d",
      id,
      "sh",
      "-c",
      `mkdir /r; while :; do mkdir /r/d 2>/dev/null; rm -rf /r/d; ln -s ${secret} /r/d; rm -f /r/d; done`,
    ]);
    for (let k = 0; k < 30; k++) await m(["cp", `${host}/payload`, `${id}:/r/d/raced${k}`]);
    assert.deepEqual([...Deno.readDirSync(secret)].map((e) => e.name).sort(), ["secret", "victim"]);
    assert.equal(Deno.readTextFileSync(`${secret}/victim`), "keep\n");
  } finally {
    Deno.removeSync(secret, { recursive: true });
    Deno.removeSync(host, { recursive: true });
  }
});

withStateRoot("cp: bad input is one sentence and exit 125, nothing made", async (m) => {
  const host = tmp();
  try {
    const id = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
    Deno.writeTextFileSync(`${host}/f`, "x");
    const cases: [string[], RegExp][] = [
      [["cp", `${host}/f`, "nosuch:/x"], /no such container/],
      [["cp", `${host}/f`, `${id}:/missing/x`], /cp: find \/missing: No such file/],
      [["cp", `${id}:/missing`, `${host}/out`], /No such file/],
      [["cp", `${id}:/etc/passwd`, `${host}/nodir/out`], /No such file/],
      [["cp", `${host}/nofile`, `${id}:/tmp`], /cp: read/],
      [["cp", `${host}/f`, `${host}/g`], /one of CONTAINER:PATH/],
    ];
    for (const [args, why] of cases) {
      const r = await m(args);
      assert.equal(r.code, 125, args.join(" "));
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
    assert.deepEqual([...Deno.readDirSync(host)].map((e) => e.name), ["f"]);
    assert.equal((await m(["exec", id, "ls", "/missing"])).code, 1);
  } finally {
    Deno.removeSync(host, { recursive: true });
  }
});

withStateRoot(
  "cp out of exited containers: a --rootfs directory, an overlay's kept layer",
  async (m) => {
    const host = tmp();
    try {
      const data = Deno.env.get("MINICONTAINER_DATA")!;
      await m(["run", "true"]); // builds the default rootfs when missing
      const copy = await new Deno.Command("cp", {
        args: ["-a", `${data}/rootfs/default`, `${host}/rootfs`],
      }).output();
      assert.equal(copy.code, 0);
      const id =
        (await m(["run", "-d", "--rootfs", `${host}/rootfs`, "sh", "-c", "echo made > /made"]))
          .stdout.trim();
      const end = Date.now() + 10_000;
      while (Date.now() < end && !(await m(["ps", "-a"])).stdout.includes("Exited")) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const r = await m(["cp", `${id}:/made`, `${host}/made`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(Deno.readTextFileSync(`${host}/made`), "made\n");
      // The default rootfs's overlay: its kept writable layer over the rootfs,
      // read through a read-only view (a deleted file stays deleted); cp in refused.
      const ov = (await m(["run", "-d", "sh", "-c", "echo kept > /kept; rm /bin/ls"])).stdout
        .trim();
      while (Date.now() < end && (await m(["ps", "-q"])).stdout.includes(ov.slice(0, 12))) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await m(["cp", `${ov}:/kept`, `${host}/kept`])).code, 0);
      assert.equal(Deno.readTextFileSync(`${host}/kept`), "kept\n");
      assert.equal((await m(["cp", `${ov}:/bin/sh`, `${host}/sh`])).code, 0);
      const deleted = await m(["cp", `${ov}:/bin/ls`, `${host}/ls`]);
      assert.equal(deleted.code, 125);
      assert.match(deleted.stderr, /No such file/);
      const into = await m(["cp", `${host}/kept`, `${ov}:/again`]);
      assert.equal(into.code, 125);
      assert.match(into.stderr, /can only be read now/);
      assert.ok(!Deno.readTextFileSync("/proc/self/mountinfo").includes("minicontainer-view"));
    } finally {
      Deno.removeSync(host, { recursive: true });
    }
  },
);

withStateRoot(
  "cp -L follows SRC's link: inside the container's root for CONTAINER:SRC, never the host's",
  async (m) => {
    const secret = hostSecret();
    const host = tmp();
    try {
      const id = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
      await m([
        "exec",
        id,
        "sh",
        "-c",
        `mkdir -p ${secret} && echo inside > ${secret}/secret && ln -s ${secret}/secret /link && ln -s /etc /dirlink`,
      ]);
      const file = await m(["cp", "-L", `${id}:/link`, `${host}/out`]);
      assert.equal(file.code, 0, file.stderr);
      assert.ok(!Deno.lstatSync(`${host}/out`).isSymlink);
      assert.equal(
        Deno.readTextFileSync(`${host}/out`),
        "inside\n",
        "the container's file, not the host's",
      );
      const dir = await m(["cp", "-L", `${id}:/dirlink`, `${host}/etc`]);
      assert.equal(dir.code, 0, dir.stderr);
      assert.ok(Deno.statSync(`${host}/etc/passwd`).isFile);
      // In: the host's link followed, the copy keeps the link's name.
      Deno.writeTextFileSync(`${host}/target`, "from host\n");
      Deno.symlinkSync(`${host}/target`, `${host}/hostlink`);
      assert.equal((await m(["cp", "-L", `${host}/hostlink`, `${id}:/tmp/`])).code, 0);
      const got = await m(["exec", id, "sh", "-c", "test -L /tmp/hostlink || cat /tmp/hostlink"]);
      assert.equal(got.stdout, "from host\n");
    } finally {
      Deno.removeSync(secret, { recursive: true });
      Deno.removeSync(host, { recursive: true });
    }
  },
);
