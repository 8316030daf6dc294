// Resource limits through the CLI, enforced by the real kernel (cgroup v1 here).
import assert from "node:assert/strict";
import {
  containerCgroups,
  mc,
  mcAsNobody,
  newCgroups,
  nobodyEnv,
  nobodyHome,
  rootOnly,
} from "./helpers.ts";

function test(name: string, fn: () => Promise<void>) {
  Deno.test({
    ...rootOnly(name),
    async fn() {
      const before = containerCgroups();
      await fn();
      assert.deepEqual(newCgroups(before), [], "a container cgroup was left behind");
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

test("limits: a limit that cannot be applied is a warning naming it, never a silent ignore", async () => {
  // Unprivileged, with no delegated cgroup: the limit cannot be applied here.
  const home = nobodyHome();
  try {
    const out = await mcAsNobody(["run", "--memory", "64m", "true"], nobodyEnv(home));
    assert.equal(out.code, 0, out.stderr);
    assert.match(
      out.stderr,
      /^minicontainer: warning: resource limits need root .*running without them$/m,
    );
  } finally {
    Deno.removeSync(home, { recursive: true });
  }
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
