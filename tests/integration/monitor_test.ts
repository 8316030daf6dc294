/**
 * A detached container's monitor (ffi/monitor.c), with real containers:
 * its size, its log rotation, wait, attach, restart policies, and bad input.
 */
import assert from "node:assert/strict";
import { LAUNCHER, mc, REPO, rootOnly, TEST_HOME, waitFor } from "./helpers.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ ...rootOnly(name), sanitizeOps: false, sanitizeResources: false, fn });

const rss = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]);

function inspect(ref: string) {
  return mc(["inspect", ref]).then((r) => JSON.parse(r.stdout)[0]);
}

test("monitor: ten running containers' monitors are each under 2 MB resident", async () => {
  const ids: string[] = [];
  try {
    for (let i = 0; i < 10; i++) {
      const r = await mc(["run", "-d", "sh", "-c", "echo hi; sleep 300"]);
      assert.equal(r.code, 0, r.stderr);
      ids.push(r.stdout.trim());
    }
    let total = 0;
    for (const id of ids) {
      const pid = (await inspect(id)).State.Pid;
      const monitor = Number(
        Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ")[1],
      );
      assert.match(Deno.readTextFileSync(`/proc/${monitor}/cmdline`), /mcmonitor/);
      const kb = rss(monitor);
      assert.ok(kb < 2048, `monitor ${monitor} has ${kb} kB resident`);
      total += kb;
    }
    console.log(`ten monitors: ${total} kB resident in all`);
  } finally {
    await mc(["rm", "-f", ...ids]);
  }
});

test("monitor: a yes container's log stops at max-size × max-file, and logs --tail 1 answers", async () => {
  const r = await mc(["run", "-d", "--log-opt", "max-size=64k", "--log-opt", "max-file=2", "yes"]);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  try {
    const dir = `${TEST_HOME}/data/containers/${id}`;
    const size = () =>
      [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("container.log"))
        .reduce((n, e) => {
          try {
            return n + Deno.statSync(`${dir}/${e.name}`).size;
          } catch {
            return n; // renamed by a rotation between the listing and the stat
          }
        }, 0);
    await waitFor(
      () => {
        try {
          return Deno.statSync(`${dir}/container.log.1`).isFile;
        } catch {
          return false;
        }
      },
      10_000,
      "the first rotation",
    );
    for (let i = 0; i < 10; i++) {
      assert.ok(size() <= 2 * 64 * 1024, `${size()} bytes of log`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.throws(() => Deno.statSync(`${dir}/container.log.2`), "only two files");
    const tail = await mc(["logs", "--tail", "1", id]);
    assert.equal(tail.code, 0, tail.stderr);
    // The whole answer in the message: a failure under load once said only "not equal".
    assert.equal(tail.stdout, "y\n", JSON.stringify(tail));
  } finally {
    await mc(["rm", "-f", id]);
  }
});

test("monitor: wait prints the exit code; --restart on-failure:2 restarts twice, then stops", async () => {
  const w = await mc(["run", "-d", "--name", "waited", "sh", "-c", "sleep 0.3; exit 4"]);
  assert.equal(w.code, 0, w.stderr);
  const waited = await mc(["wait", "waited"]);
  assert.equal(waited.code, 0, waited.stderr);
  assert.equal(waited.stdout, "4\n");
  await mc(["rm", "waited"]);

  const r = await mc([
    "run",
    "-d",
    "--name",
    "flaky",
    "--restart",
    "on-failure:2",
    "sh",
    "-c",
    "echo started; exit 3",
  ]);
  assert.equal(r.code, 0, r.stderr);
  try {
    for (let i = 0; i < 100; i++) {
      if ((await mc(["logs", "flaky"])).stdout === "started\n".repeat(3)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1500)); // a fourth would have come by now
    assert.equal((await mc(["logs", "flaky"])).stdout, "started\n".repeat(3));
    const state = await inspect("flaky");
    assert.equal(state.State.Status, "exited");
    assert.equal(state.State.ExitCode, 3);
  } finally {
    await mc(["rm", "-f", "flaky"]);
  }
});

test("monitor: attach to a -dit shell: our size, then resized; a typed command; Ctrl-P Ctrl-Q leaves it running", async () => {
  const r = await mc(["run", "-dit", "--name", "shell", "sh"]);
  assert.equal(r.code, 0, r.stderr);
  try {
    const out = await new Deno.Command("python3", {
      args: [`${REPO}tests/integration/pty_driver.py`, LAUNCHER, "attach", "shell"],
      env: {
        PTY_MODE: "attach",
        MINICONTAINER_ROOT: `${TEST_HOME}/state`,
        MINICONTAINER_DATA: `${TEST_HOME}/data`,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const result = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    assert.equal(result.error, undefined, `${result.error}\n${result.output}`);
    assert.equal(result.size, "40 132", "the container's terminal took ours at attach");
    assert.equal(result.resized, "50 160", "and followed our SIGWINCH");
    assert.equal(result.exit, 0);
    assert.equal(result.mode_restored, true);
    assert.equal((await inspect("shell")).State.Status, "running");
    assert.match((await mc(["logs", "shell"])).stdout, /attached-42/);
  } finally {
    await mc(["rm", "-f", "shell"]);
  }
});

test("monitor: the window-size socket drops bad clients; sizes in pieces or in bursts apply", async () => {
  const r = await mc(["run", "-dit", "--name", "sizes", "sh"]);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  // Relative to its folder, as attach.ts connects: the full path is too long for a socket address.
  const dir = `${TEST_HOME}/state/${id}`;
  // A full backlog (connects faster than the monitor accepts) is EAGAIN: tried again.
  const connect = async (): Promise<Deno.UnixConn> => {
    for (let i = 0;; i++) {
      const cwd = Deno.cwd();
      Deno.chdir(dir);
      try {
        return await Deno.connect({ transport: "unix", path: "attach.winsize" });
      } catch (e) {
        if (!(e instanceof Deno.errors.WouldBlock) || i === 100) throw e;
      } finally {
        Deno.chdir(cwd);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const record = (rows: number, cols: number) =>
    new Uint8Array(new Uint16Array([rows, cols, 0, 0]).buffer);
  const size = async () =>
    (await mc(["exec", "sizes", "stty", "-F", "/dev/pts/0", "size"])).stdout.trim();
  const ended = (c: Deno.Conn) => c.read(new Uint8Array(8)).then((n) => n === null, () => true);
  try {
    const pid = (await inspect("sizes")).State.Pid;
    // A size of zero is none a terminal has: that client is dropped, the size kept.
    const zero = await connect();
    await zero.write(record(0, 0));
    assert.equal(await ended(zero), true, "a zero size drops its client");
    zero.close();
    // More clients than it serves: the extra ones are closed at once.
    const idle = [];
    for (let i = 0; i < 10; i++) idle.push(await connect());
    assert.equal(await ended(idle[9]), true, "a client past the limit is closed");
    for (const c of idle) c.close();
    // A megabyte of noise, then gone: whatever it said, the monitor lives on.
    const noisy = await connect();
    const noise = new Uint8Array(1 << 20).fill(0x41);
    for (let done = 0; done < noise.length;) done += await noisy.write(noise.subarray(done));
    noisy.close();
    // A burst (the last size counts) whose last record comes in two pieces.
    let good: Deno.UnixConn | undefined;
    for (let i = 0; i < 50 && !good; i++) {
      // The idle ones may not all be dropped yet: a turned-away client retries.
      const c = await connect();
      const both = new Uint8Array([...record(20, 30), ...record(33, 77)]);
      await c.write(both.subarray(0, 12));
      await new Promise((r) => setTimeout(r, 100));
      if (await c.write(both.subarray(12)).then(() => true, () => false)) good = c;
      else c.close();
    }
    assert.ok(good, "a well-behaved client is served");
    let seen = "";
    for (let i = 0; i < 50 && (seen = await size()) !== "33 77"; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(seen, "33 77");
    good.close();
    const now = await inspect("sizes");
    assert.equal(now.State.Status, "running");
    assert.equal(now.State.Pid, pid, "the same container, never restarted");
  } finally {
    await mc(["rm", "-f", "sizes"]);
  }
});

test("monitor: bad input is one sentence and 125", async () => {
  const plain = await mc(["run", "-d", "--name", "plain", "sleep", "30"]);
  assert.equal(plain.code, 0, plain.stderr);
  try {
    for (
      const [args, pattern] of [
        [["attach", "plain"], /has no terminal/],
        [["attach", "ghost"], /no such container/],
        [["wait", "ghost"], /no such container/],
        [["run", "-d", "--name", "plain", "true"], /already in use/],
        [["run", "-d", "--restart", "sometimes", "true"], /--restart "sometimes"/],
        [["run", "-d", "--log-opt", "max-file=0", "true"], /max-file/],
        [["run", "-d", "--log-opt", "colour=blue", "true"], /colour=blue/],
      ] as const
    ) {
      const r = await mc([...args]);
      assert.equal(r.code, 125, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  } finally {
    await mc(["rm", "-f", "plain"]);
  }
});

test("monitor: long lines come in 16 KiB pieces; quotes, backslashes, control bytes and UTF-8 survive", async () => {
  const r = await mc([
    "run",
    "-d",
    "--name",
    "odd",
    "sh",
    "-c",
    "head -c 40000 /dev/zero | tr '\\0' x; echo; printf 'a\"b\\\\c\\td\\001e \\303\\251t\\303\\251\\n'; echo err >&2",
  ]);
  assert.equal(r.code, 0, r.stderr);
  try {
    assert.equal((await mc(["wait", "odd"])).stdout, "0\n");
    const logs = await mc(["logs", "odd"]);
    assert.equal(logs.stdout, `${"x".repeat(40000)}\na"b\\c\td\x01e \u00e9t\u00e9\n`);
    assert.equal(logs.stderr, "err\n");
    const id = (await inspect("odd")).Id;
    const lines = Deno.readTextFileSync(`${TEST_HOME}/data/containers/${id}/container.log`)
      .trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.slice(0, 3).map((l) => l.log.length), [16384, 16384, 40000 - 32768 + 1]);
    assert.match(lines[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  } finally {
    await mc(["rm", "-f", "odd"]);
  }
});

test("every container has state: a foreground one is listed and exec-able while it runs, kept after, until rm", async () => {
  const run = new Deno.Command(LAUNCHER, {
    args: ["run", "--name", "fg", "sh", "-c", "sleep 2; exit 5"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitFor(
      () => {
        try {
          return Deno.readTextFileSync(`${TEST_HOME}/state/names/fg`).length === 64 &&
            JSON.parse(
                Deno.readTextFileSync(
                  `${TEST_HOME}/state/${
                    Deno.readTextFileSync(`${TEST_HOME}/state/names/fg`)
                  }/state.json`,
                ),
              ).status === "running";
        } catch {
          return false;
        }
      },
      10_000,
      "the foreground container to be recorded running",
    );
    assert.match((await mc(["ps"])).stdout, /Up .* fg\n/);
    const exec = await mc(["exec", "fg", "cat", "/proc/1/cmdline"]);
    assert.equal(exec.code, 0, exec.stderr);
    assert.match(exec.stdout, /^sh\0-c\0sleep 2; exit 5\0$/);
    assert.equal((await mc(["wait", "fg"])).stdout, "5\n");
    assert.equal((await run.status).code, 5);
    assert.match((await mc(["ps", "-a"])).stdout, /Exited \(5\) .* fg\n/);
    const id = (await inspect("fg")).Id;
    assert.ok(
      Deno.statSync(`${TEST_HOME}/data/containers/${id}/upper`).isDirectory,
      "its layer is kept",
    );
    assert.equal((await mc(["rm", "fg"])).code, 0);
    assert.throws(() => Deno.statSync(`${TEST_HOME}/data/containers/${id}`));
    assert.doesNotMatch((await mc(["ps", "-a"])).stdout, /fg/);
  } finally {
    try {
      run.kill("SIGKILL");
    } catch { /* ended */ }
    await mc(["rm", "-f", "fg"]);
  }
});

test("monitor: containers that exit at once are all reaped and recorded; no monitor stays", async () => {
  const ids: string[] = [];
  for (let i = 0; i < 15; i++) {
    const r = await mc(["run", "-d", "true"]);
    assert.equal(r.code, 0, r.stderr);
    ids.push(r.stdout.trim());
  }
  try {
    for (const id of ids) assert.equal((await mc(["wait", id])).stdout, "0\n");
    const mine = () =>
      [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).filter((e) => {
        try {
          const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
          return cmd.includes("mcmonitor") && ids.some((id) => cmd.includes(id));
        } catch {
          return false;
        }
      });
    await waitFor(() => mine().length === 0, 10_000, "every monitor to end");
  } finally {
    await mc(["rm", "-f", ...ids]);
  }
});
