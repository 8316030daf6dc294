// Where a container's writes go: its writable layer on disk under the data
// directory (never host memory), the bounded tmpfs mounts, --tmpfs, and the
// directory's removal on every exit path, against the real kernel.
import assert from "node:assert/strict";
import {
  containerCgroups,
  LAUNCHER,
  mc,
  mcAsNobody,
  nobodyEnv,
  nobodyHome,
  rootOnly,
  TEST_HOME,
  waitFor,
} from "./helpers.ts";

const data = `${TEST_HOME}/data`;
const MiB = 1 << 20;

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ ...rootOnly(name), fn });
}

/** Container directories under the data directory now. */
function containerDirs(root = data): string[] {
  try {
    return [...Deno.readDirSync(`${root}/containers`)].map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Whether LOCK_EX on `dir` is free now: no runtime holds the container's directory. */
function unlocked(dir: string): boolean {
  return new Deno.Command("flock", { args: ["-x", "-n", dir, "true"] }).outputSync().code === 0;
}

/** The host's shared memory (tmpfs and shm pages), in bytes. */
function shmem(): number {
  const m = /^Shmem:\s+(\d+) kB$/m.exec(Deno.readTextFileSync("/proc/meminfo"));
  return Number(m![1]) * 1024;
}

/** Reads `stream` until a line equal to `line` has come; the text so far. */
async function readUntil(stream: ReadableStream<Uint8Array>, line: string): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (!text.split("\n").includes(line)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the container ended before "${line}": ${text}`);
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return text;
}

test("writable layer: 100 MB in /tmp and 100 MB in / land on disk, not in host memory", async () => {
  const before = containerDirs();
  const baseline = shmem();
  const child = new Deno.Command(LAUNCHER, {
    args: [
      "run",
      "--rm",
      "-i",
      "sh",
      "-c",
      "dd if=/dev/zero of=/tmp/big bs=1M count=100 2>/dev/null && " +
      "dd if=/dev/zero of=/big bs=1M count=100 2>/dev/null && echo ready && read x",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.text();
  try {
    await readUntil(child.stdout, "ready");
    // The container holds its 200 MB while this measures.
    const grown = shmem() - baseline;
    // Other tests on the machine move Shmem a little; a tmpfs would add 200 MB.
    assert.ok(grown < 50 * MiB, `Shmem grew by ${(grown / MiB).toFixed(1)} MiB`);
    const dirs = containerDirs().filter((d) => !before.includes(d));
    assert.equal(dirs.length, 1, `one new container directory: ${dirs}`);
    const upper = `${data}/containers/${dirs[0]}/upper`;
    assert.equal(Deno.statSync(`${upper}/tmp/big`).size, 100 * MiB, "/tmp is on disk");
    assert.equal(Deno.statSync(`${upper}/big`).size, 100 * MiB, "/ is on disk");
    assert.equal(unlocked(`${data}/containers/${dirs[0]}`), false, "the runtime holds it");
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("done\n"));
    await w.close();
    const status = await child.status;
    assert.equal(status.code, 0, await stderr);
    assert.deepEqual(containerDirs(), before, "the directory goes with the container");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.status;
  }
});

test("writable layer: the directory goes on every exit path, and the default rootfs is untouched", async () => {
  const before = containerDirs();
  // A command that fails, one that is not found, a bad flag found late, a runtime error.
  assert.equal((await mc(["run", "--rm", "sh", "-c", "echo x > /etc/passwd; exit 3"])).code, 3);
  assert.equal((await mc(["run", "--rm", "no-such-command"])).code, 127);
  assert.equal((await mc(["run", "--rm", "-d", "--restart", "never", "true"])).code, 125);
  assert.equal((await mc(["run", "--rm", "-w", "/etc/passwd", "true"])).code, 125);
  assert.deepEqual(containerDirs(), before, "foreground containers leave nothing");

  // Detached: kept while it runs and after it exits, removed by rm.
  const id = (await mc(["run", "-d", "sh", "-c", "echo hi > /tmp/f; sleep 30"])).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  await waitFor(
    () => {
      try {
        return Deno.readTextFileSync(`${data}/containers/${id}/upper/tmp/f`) === "hi\n";
      } catch {
        return false;
      }
    },
    10_000,
    "the detached container's write in its own directory",
  );
  assert.equal(unlocked(`${data}/containers/${id}`), false, "its monitor holds it");
  const mode = Deno.statSync(`${data}/containers/${id}`).mode! & 0o777;
  assert.equal(mode, 0o700, "host users cannot reach a container's upper layer");
  assert.equal((await mc(["rm", "-f", id])).code, 0);
  assert.deepEqual(containerDirs(), before, "rm -f removes it");

  const stopped = (await mc(["run", "-d", "true"])).stdout.trim();
  await waitFor(
    () => {
      const r = Deno.readTextFileSync(`${TEST_HOME}/state/${stopped}/state.json`);
      return JSON.parse(r).status === "exited";
    },
    10_000,
    "the container to exit",
  );
  assert.ok(containerDirs().includes(stopped), "an exited container keeps its files until rm");
  assert.equal((await mc(["rm", stopped])).code, 0);
  assert.deepEqual(containerDirs(), before, "rm removes it");

  const auto = (await mc(["run", "-d", "--rm", "true"])).stdout.trim();
  await waitFor(() => !containerDirs().includes(auto), 10_000, "--rm to remove the directory");

  const base = `${data}/rootfs/default`;
  assert.match(Deno.readTextFileSync(`${base}/etc/passwd`), /^root:/, "the rootfs is untouched");
  assert.throws(() => Deno.lstatSync(`${base}/tmp/f`), Deno.errors.NotFound);
});

test("writable layer: /dev/shm refuses writes past 64 MiB; /dev is a 64 MiB tmpfs; /tmp and /run are no tmpfs", async () => {
  const r = await mc([
    "run",
    "--rm",
    "sh",
    "-c",
    "dd if=/dev/zero of=/dev/shm/f bs=1M count=80; echo size=$(wc -c < /dev/shm/f); " +
    "grep -E ' /dev(/shm)? ' /proc/mounts; grep -cE ' /(tmp|run) ' /proc/mounts; " +
    "grep '^overlay / ' /proc/mounts",
  ]);
  assert.match(r.stderr, /No space left on device/);
  assert.match(r.stdout, new RegExp(`^size=${64 * MiB}$`, "m"));
  assert.match(r.stdout, /^tmpfs \/dev tmpfs rw,nosuid,size=65536k,mode=755/m);
  assert.match(r.stdout, /^shm \/dev\/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k/m);
  assert.match(r.stdout, /^0$/m, "/tmp and /run are part of the writable layer");
  // Exiting must not sync the host's whole file system (overlayfs does, unless volatile).
  const [major, minor] = Deno.osRelease().split(".").map(Number);
  if (major > 5 || (major === 5 && minor >= 10)) {
    assert.match(
      r.stdout,
      new RegExp(`^overlay / overlay .*upperdir=${data}/containers/.*volatile`, "m"),
    );
  }
});

test("writable layer: --tmpfs /scratch:size=1m is a 1 MiB tmpfs, noexec,nosuid,nodev unless told", async () => {
  const r = await mc([
    "run",
    "--rm",
    "--tmpfs",
    "/scratch:size=1m",
    "--tmpfs",
    "/deep/er:exec,mode=700",
    "sh",
    "-c",
    "grep -E ' /scratch | /deep/er ' /proc/mounts; " +
    "dd if=/dev/zero of=/scratch/f bs=64k count=32 2>&1 | grep -o 'No space left on device'; " +
    "echo size=$(wc -c < /scratch/f); " +
    "cp /bin/busybox /scratch/bb 2>/dev/null || cp /bin/busybox /deep/er/bb0; " +
    "printf '#!/bin/sh\\necho ran\\n' > /deep/er/s && chmod +x /deep/er/s && /deep/er/s",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k 0 0$/m);
  assert.match(r.stdout, /^tmpfs \/deep\/er tmpfs rw,nosuid,nodev,relatime,mode=700 0 0$/m);
  assert.match(r.stdout, /^No space left on device$/m);
  assert.match(r.stdout, new RegExp(`^size=${1 * MiB}$`, "m"));
  assert.match(r.stdout, /^ran$/m, "exec undoes the default noexec");

  const noexec = await mc([
    "run",
    "--rm",
    "--tmpfs",
    "/scratch",
    "sh",
    "-c",
    "printf '#!/bin/sh\\necho ran\\n' > /scratch/s && chmod +x /scratch/s && /scratch/s",
  ]);
  assert.match(noexec.stderr, /Permission denied/);
  assert.doesNotMatch(noexec.stdout, /ran/);

  const before = containerDirs();
  for (const bad of ["scratch", "/", "/a:size=lots", "/a:bogus", "/a:mode=999"]) {
    const b = await mc(["run", "--rm", "--tmpfs", bad, "true"]);
    assert.equal(b.code, 125, bad);
    assert.equal(b.stderr.trim().split("\n").length, 1, b.stderr);
    assert.match(b.stderr, /--tmpfs/);
  }
  assert.deepEqual(containerDirs(), before, "refused flags leave nothing");
});

test("writable layer: a --tmpfs target through the rootfs's symlinks stays inside the rootfs", async () => {
  const rootfs = Deno.makeTempDirSync({ prefix: "mc-tmpfs-link-" });
  const marker = `mc-tmpfs-escape-${crypto.randomUUID()}`;
  try {
    assert.equal((await mc(["run", "--rm", "true"])).code, 0, "the default rootfs is built");
    const copy = new Deno.Command("cp", { args: ["-a", `${data}/rootfs/default/.`, rootfs] });
    assert.equal((await copy.output()).code, 0);
    Deno.symlinkSync("/tmp", `${rootfs}/abs`);
    Deno.symlinkSync("../../../../../../tmp", `${rootfs}/rel`);
    for (const target of [`/abs/${marker}`, `/rel/${marker}`]) {
      const r = await mc([
        "run",
        "--rm",
        "--rootfs",
        rootfs,
        "--tmpfs",
        `${target}:size=1m`,
        "sh",
        "-c",
        `grep -c ' /tmp/${marker} tmpfs' /proc/mounts`,
      ]);
      assert.equal(r.stdout.trim(), "1", `${target}: ${r.stderr}`);
      assert.throws(
        () => Deno.lstatSync(`/tmp/${marker}`),
        Deno.errors.NotFound,
        "the host's /tmp",
      );
      assert.ok(Deno.statSync(`${rootfs}/tmp/${marker}`).isDirectory, "made in the rootfs");
      Deno.removeSync(`${rootfs}/tmp/${marker}`);
    }
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

test("writable layer: --read-only keeps /tmp and /run writable as 64 MiB tmpfs; --tmpfs /tmp wins", async () => {
  const r = await mc([
    "run",
    "--rm",
    "--read-only",
    "-v",
    `${TEST_HOME}:/tmp/host:ro`,
    "sh",
    "-c",
    "touch /x 2>&1; echo a > /tmp/a && echo b > /run/b && echo writable; " +
    "grep -E ' /(tmp|run) ' /proc/mounts; ls -d /tmp/host/data",
  ]);
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, /^writable$/m);
  assert.match(r.stdout, /^tmpfs \/tmp tmpfs rw,nosuid,nodev,relatime,size=65536k 0 0$/m);
  assert.match(r.stdout, /^tmpfs \/run tmpfs rw,nosuid,nodev,relatime,size=65536k,mode=755 0 0$/m);
  assert.match(r.stdout, /^\/tmp\/host\/data$/m, "a volume inside /tmp stays above its tmpfs");

  const own = await mc([
    "run",
    "--rm",
    "--read-only",
    "--tmpfs",
    "/tmp:size=2m",
    "sh",
    "-c",
    "grep -c ' /tmp ' /proc/mounts; df -k /tmp | tail -1",
  ]);
  assert.equal(own.code, 0, own.stderr);
  assert.match(own.stdout, /^1$/m, "one tmpfs on /tmp");
  assert.match(own.stdout, /^tmpfs\s+2048 /m);
});

test("writable layer: --userns remap writes to / and /tmp; its layer belongs to the mapped root", async () => {
  const r = await mc([
    "run",
    "--rm",
    "--userns",
    "remap",
    "sh",
    "-c",
    "echo x > /tmp/f && echo y > /f && echo ok; grep ' /tmp ' /proc/mounts",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok$/m);
  // The rootfs's /tmp belongs to the host's root, which the namespace does not map.
  assert.match(r.stdout, /^tmpfs \/tmp tmpfs .*size=65536k/m);
});

test("writable layer: rootless, a lower directory can be replaced and the directory is removed", async () => {
  const home = nobodyHome();
  try {
    const out = await mcAsNobody([
      "run",
      "--rm",
      "sh",
      "-c",
      // Not /etc: its hosts, hostname and resolv.conf are mount points (busy, as in docker).
      "rm -rf /var && mkdir /var && echo ok > /var/new && cat /var/new && echo t > /tmp/t",
    ], nobodyEnv(home));
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, "ok\n");
    assert.deepEqual(containerDirs(`${home}/data`), [], "overlayfs's work/work removed too");
    assert.ok(Deno.statSync(`${home}/data/rootfs/default/var/tmp`).isDirectory);
  } finally {
    Deno.removeSync(home, { recursive: true });
  }
});

test("writable layer: a runtime killed with SIGKILL leaves its directory, unlocked, for a reclaimer", async () => {
  const before = containerDirs();
  const child = new Deno.Command(LAUNCHER, {
    args: ["run", "--rm", "-i", "sh", "-c", "echo x > /tmp/x && echo ready && read x"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let dir = "";
  try {
    await readUntil(child.stdout, "ready");
    const dirs = containerDirs().filter((d) => !before.includes(d));
    assert.equal(dirs.length, 1);
    dir = `${data}/containers/${dirs[0]}`;
    assert.equal(unlocked(dir), false, "held while the runtime lives");
    child.kill("SIGKILL");
    await child.status;
    await waitFor(() => unlocked(dir), 5_000, "the kernel to release the lock");
    assert.equal(Deno.readTextFileSync(`${dir}/upper/tmp/x`), "x\n", "left for reclaiming");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
    if (dir) {
      Deno.removeSync(dir, { recursive: true });
      // The killed runtime's cgroups too (reclaiming them is not this test's subject).
      const id = dir.slice(dir.lastIndexOf("/") + 1);
      await waitFor(
        () => {
          for (const cg of containerCgroups().filter((c) => c.endsWith(id))) {
            try {
              Deno.removeSync(cg);
            } catch { /* its last process is still exiting */ }
          }
          return !containerCgroups().some((c) => c.endsWith(id));
        },
        5_000,
        "the killed container's cgroups to empty",
      );
    }
  }
});
