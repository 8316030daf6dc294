// Resource limits through the CLI, enforced by the real kernel (cgroup v1 here).
import assert from "node:assert/strict";
import { mc, rootOnly } from "./helpers.ts";

/** Every container cgroup directory on the host, in any hierarchy. */
function containerCgroups(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory) continue;
      if (e.name.startsWith("minicontainer-")) found.push(`${dir}/${e.name}`);
      else walk(`${dir}/${e.name}`, depth + 1);
    }
  };
  walk("/sys/fs/cgroup", 0);
  return found;
}

function test(name: string, fn: () => Promise<void>) {
  Deno.test({
    ...rootOnly(name),
    async fn() {
      const before = containerCgroups();
      await fn();
      assert.deepEqual(containerCgroups(), before, "a container cgroup was left behind");
    },
  });
}

test("limits: 64 MiB kills a 200 MiB allocation: exit 137 and one sentence", async () => {
  const r = await mc([
    "run",
    "--memory",
    "64m",
    "sh",
    "-c",
    "head -c 200m /dev/zero | tail > /dev/null",
  ]);
  assert.equal(r.code, 137);
  assert.match(r.stderr, /^minicontainer: container killed: out of memory \(limit 64 MiB\)$/m);
});

test("limits: a pids limit of 16 stops a fork bomb; host and container stay responsive", async () => {
  const r = await mc([
    "run",
    "--pids-limit",
    "16",
    "sh",
    "-c",
    // The inner shell dies at its first refused fork; /tmp/n tells how far it got.
    "sh -c 'i=0; while [ $i -lt 64 ]; do echo $i > /tmp/n; sleep 3 & i=$((i+1)); done' 2>/dev/null; sleep 3.5; cat /tmp/n; echo alive",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [reached, alive] = r.stdout.trim().split("\n");
  assert.ok(Number(reached) < 16, `the bomb started ${reached} processes`);
  assert.equal(alive, "alive");
  assert.equal((await mc(["run", "true"])).code, 0, "the host can still start containers");
});

test("limits: --cpus 0.2 keeps a busy loop near a fifth of a CPU", async () => {
  const r = await mc([
    "run",
    "--debug",
    // timeout's watcher signals PID 1, which ignores SIGTERM without --init.
    "--init",
    "--cpus",
    "0.2",
    "timeout",
    "2",
    "sh",
    "-c",
    "while :; do :; done",
  ]);
  const m = /cpu time ([\d.]+) s/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const used = Number(m[1]);
  assert.ok(used > 0.15 && used < 0.8, `used ${used} s of CPU in 2 s`);
});

test("limits: --ulimit shows in ulimit; the container sees its own cgroup as /", async () => {
  const r = await mc([
    "run",
    "--ulimit",
    "nofile=64:64",
    "--memory",
    "32m",
    "sh",
    "-c",
    "ulimit -n; grep memory /proc/self/cgroup",
  ]);
  const [nofile, memory] = r.stdout.trim().split("\n");
  assert.equal(nofile, "64");
  assert.match(memory, /^\d+:memory:\/$/);
});

test("limits: a limit the host cannot apply is a warning naming it", async () => {
  let memsw = true;
  try {
    Deno.statSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  } catch {
    memsw = false;
  }
  const r = await mc(["run", "--memory", "64m", "--memory-swap", "128m", "true"]);
  assert.equal(r.code, 0, r.stderr);
  if (!memsw) assert.match(r.stderr, /warning: .*swap/i);
});

test("limits: bad values are one sentence, exit 125, no cgroup created", async () => {
  const cases: [string[], RegExp][] = [
    [["--memory", "10q"], /memory/],
    [["--memory", "-5m"], /memory/],
    [["--pids-limit", "-7"], /pids-limit/],
    [["--cpus", "999"], /cpus/],
    [["--ulimit", "bogus=1:1"], /ulimit/],
    [["--ulimit", "nofile=10:5"], /ulimit/],
  ];
  for (const [flags, message] of cases) {
    const r = await mc(["run", ...flags, "true"]);
    assert.equal(r.code, 125, flags.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
});
