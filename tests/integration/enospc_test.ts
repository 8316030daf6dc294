/**
 * A full disk, for real: the state and data directories are small tmpfs
 * mounts, filled up. Every write path answers with one sentence and exit
 * 125 and leaves no half-written file; a detached container whose log
 * fills its state file system still has its exit status.
 */
import assert from "node:assert/strict";
import { mc, type Result, rootOnly, sh } from "./helpers.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ ...rootOnly(name), sanitizeOps: false, sanitizeResources: false, fn });

/** Two tmpfs mounts (state, data) of the given sizes; removed after `fn`. */
async function withSmallDisks(
  sizes: { state: string; data: string },
  fn: (env: Record<string, string>, dirs: { state: string; data: string }) => Promise<void>,
): Promise<void> {
  const top = await Deno.makeTempDir({ prefix: "mc-enospc-" });
  const dirs = { state: `${top}/state`, data: `${top}/data` };
  await sh(
    `mkdir -p ${dirs.state} ${dirs.data} && mount -t tmpfs -o size=${sizes.state} tmpfs ${dirs.state} && ` +
      `mount -t tmpfs -o size=${sizes.data},mode=755 tmpfs ${dirs.data}`,
  );
  try {
    await fn({ MINICONTAINER_ROOT: dirs.state, MINICONTAINER_DATA: dirs.data }, dirs);
  } finally {
    await sh(`umount -l ${dirs.state} ${dirs.data}; rm -rf ${top}`);
  }
}

/** Fills the file system of `dir` to its last page. */
async function fill(dir: string): Promise<void> {
  await sh(`dd if=/dev/zero of=${dir}/.filler bs=4k 2>/dev/null || true`);
}

/** Every path under `dir` (recursive), for "nothing left behind". */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      out.push(`${d}/${e.name}`.slice(dir.length));
      if (e.isDirectory && !e.isSymlink) walk(`${d}/${e.name}`);
    }
  };
  walk(dir);
  return out.sort();
}

function oneSentence(r: Result, what: string): void {
  assert.equal(r.code, 125, `${what}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /No space left on device/, what);
  assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error/);
}

async function tarball(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await sh(
    `mkdir -p ${dir}/r/bin && cp /bin/busybox ${dir}/r/bin/ && ln -s busybox ${dir}/r/bin/sh && ` +
      `tar -C ${dir}/r -cf ${dir}/bb.tar .`,
  );
  return `${dir}/bb.tar`;
}

/** Builds the default rootfs on the data disk, then fills it but for `free` bytes. */
async function leaveFree(env: Record<string, string>, data: string, free: number): Promise<void> {
  assert.equal((await mc(["run", "--rm", "true"], { env })).code, 0);
  const avail = Number((await sh(`df -B1 --output=avail ${data} | tail -1`)).trim());
  Deno.writeFileSync(`${data}/.filler`, new Uint8Array(Math.max(0, avail - free)));
}

test("ENOSPC: a log that fills its disk (the data disk) loses output, never the exit status", async () => {
  await withSmallDisks({ state: "400k", data: "16m" }, async (env, dirs) => {
    await leaveFree(env, dirs.data, 400 * 1024);
    const run = await mc(
      [
        "run",
        "-d",
        "--name",
        "noisy",
        "sh",
        "-c",
        "i=0; while [ $i -lt 40000 ]; do echo 0123456789abcdefghijklmnopqrstuvwxyz; i=$((i+1)); done; exit 7",
      ],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    let status = "";
    for (let i = 0; i < 200 && !status.startsWith("exited"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status =
        (await mc(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "noisy"], { env }))
          .stdout.trim();
    }
    assert.equal(status, "exited 7");
    assert.match(
      (await sh(`df --output=avail ${dirs.data} | tail -1`)).trim(),
      /^0$/,
      "the log filled it",
    );
    const ps = await mc(["ps", "-a"], { env });
    assert.match(ps.stdout, /Exited \(7\)/);
    const logs = await mc(["logs", "--tail", "1", "noisy"], { env });
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, "0123456789abcdefghijklmnopqrstuvwxyz\n");
    assert.equal((await mc(["rm", "noisy"], { env })).code, 0);
    // The state root's own layout (the names index, its lock, the owners journal) stays.
    assert.deepEqual(tree(dirs.state), ["/names", "/names/.complete", "/names/.lock", "/owners"]);
  });
});

test("ENOSPC: once space is back, the log goes on and says how much output it lost", async () => {
  await withSmallDisks({ state: "400k", data: "16m" }, async (env, dirs) => {
    await leaveFree(env, dirs.data, 128 * 1024);
    const signals = await Deno.makeTempDir();
    const flag = `${signals}/go`;
    const run = await mc(
      [
        "run",
        "-d",
        "--name",
        "gap",
        "-v",
        `${signals}:/x`,
        "sh",
        "-c",
        "yes 0123456789 | head -n 100000; touch /x/waiting; while [ ! -e /x/go ]; do sleep 0.1; done; echo after",
      ],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    // All of the output has been written (and mostly dropped) before space comes back.
    for (let i = 0; i < 100; i++) {
      try {
        Deno.statSync(`${signals}/waiting`);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal((await sh(`df --output=avail ${dirs.data} | tail -1`)).trim(), "0");
    Deno.removeSync(`${dirs.data}/.filler`);
    Deno.writeTextFileSync(flag, "");
    let logs = "";
    for (let i = 0; i < 100 && !logs.includes("after"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      logs = (await mc(["logs", "--tail", "2", "gap"], { env })).stdout;
    }
    const both = await mc(["logs", "--tail", "2", "gap"], { env });
    assert.equal(both.code, 0, JSON.stringify(both));
    assert.match(
      both.stderr,
      /^\[minicontainer: \d+ bytes of output were not logged: No space left on device\]\n$/,
    );
    assert.equal(both.stdout, "after\n");
    assert.equal((await mc(["rm", "-f", "gap"], { env })).code, 0);
  });
});

test("ENOSPC: image, layer, index, state and rootfs writes are one sentence, nothing half-written", async () => {
  const tar = await tarball();
  await withSmallDisks({ state: "64k", data: "32m" }, async (env, dirs) => {
    assert.equal((await mc(["import", tar, "keep:1"], { env })).code, 0);
    await fill(dirs.data);
    const before = tree(dirs.data);
    const index = Deno.readTextFileSync(`${dirs.data}/images/index.json`);
    oneSentence(await mc(["import", tar, "new:1"], { env }), "import");
    oneSentence(await mc(["rmi", "keep:1"], { env }), "rmi");
    oneSentence(await mc(["rootfs", "build", `${dirs.data}/rootfs2`], { env }), "rootfs build");
    assert.deepEqual(tree(dirs.data), before, "a temporary file or directory was left");
    assert.equal(Deno.readTextFileSync(`${dirs.data}/images/index.json`), index);
    // The state disk full: a container cannot be created, and nothing of it stays.
    await fill(dirs.state);
    const stateBefore = tree(dirs.state);
    oneSentence(await mc(["run", "-d", "--name", "x", "keep:1", "true"], { env }), "run -d");
    assert.deepEqual(tree(dirs.state), stateBefore);
    // Space again: everything works, nothing was damaged.
    Deno.removeSync(`${dirs.data}/.filler`);
    Deno.removeSync(`${dirs.state}/.filler`);
    assert.equal((await mc(["run", "--rm", "keep:1", "sh", "-c", "exit 3"], { env })).code, 3);
    assert.equal((await mc(["rmi", "keep:1"], { env })).code, 0);
  });
  await Deno.remove(tar.replace(/\/bb\.tar$/, ""), { recursive: true });
});
