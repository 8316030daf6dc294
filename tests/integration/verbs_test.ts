// docker's everyday verbs and flags against real containers: labels and ps
// filters, inspect templates and sections, pause/unpause, the run flags.
import assert from "node:assert/strict";
import { withStateRoot } from "./helpers.ts";

const COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.05; done";

withStateRoot(
  "pause freezes every process (a counter stops), inspect and ps show it, unpause resumes",
  async (m) => {
    const id = (await m(["run", "-d", "--name", "counter", "sh", "-c", COUNTER])).stdout.trim();
    const pid = Number((await m(["inspect", "-f", "{{.State.Pid}}", id])).stdout);
    const count = () => Number(Deno.readTextFileSync(`/proc/${pid}/root/tmp/c`).trim() || "0");
    await new Promise((r) => setTimeout(r, 300));
    const p = await m(["pause", "counter"]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.stdout, "counter\n");
    const frozenAt = count();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(count(), frozenAt, "the counter advanced while paused");
    assert.equal(
      (await m(["inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", id]))
        .stdout,
      "paused true true\n",
    );
    assert.match((await m(["ps"])).stdout, /Up .* \(Paused\)/);
    assert.equal(
      (await m(["ps", "-q", "--filter", "status=paused"])).stdout.trim(),
      id.slice(0, 12),
    );
    const again = await m(["pause", "counter"]);
    assert.equal(again.code, 125);
    assert.match(again.stderr, /paused already/);
    assert.equal((await m(["unpause", "counter"])).code, 0);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(count() > frozenAt, "the counter did not resume");
    assert.equal((await m(["inspect", "-f", "{{.State.Status}}", id])).stdout, "running\n");
    const not = await m(["unpause", "counter"]);
    assert.equal(not.code, 125);
    assert.match(not.stderr, /not paused/);
    for (const verb of ["pause", "unpause"]) {
      const r = await m([verb, "nosuch"]);
      assert.equal(r.code, 125);
      assert.match(r.stderr, /no such container/);
    }
  },
);

withStateRoot(
  "labels: ps --filter label=, inspect Config.Labels, index and json templates",
  async (m) => {
    const web = (await m(["run", "-d", "-l", "app=web", "-l", "tier", "sleep", "1000"])).stdout
      .trim();
    const db = (await m(["run", "-d", "--label", "app=db", "--name", "db1", "sleep", "1000"]))
      .stdout
      .trim();
    const q = async (...f: string[]) =>
      (await m(["ps", "-q", ...f.flatMap((x) => ["--filter", x])])).stdout.trim().split("\n")
        .filter(
          Boolean,
        );
    assert.deepEqual(await q("label=app=web"), [web.slice(0, 12)]);
    assert.deepEqual((await q("label=app")).sort(), [web.slice(0, 12), db.slice(0, 12)].sort());
    assert.deepEqual(await q("label=tier"), [web.slice(0, 12)]);
    assert.deepEqual(await q("label=app=none"), []);
    assert.deepEqual(await q("label=app", "name=db1"), [db.slice(0, 12)]);
    assert.deepEqual(await q("id=" + db.slice(0, 8)), [db.slice(0, 12)]);
    const f = await m([
      "inspect",
      "-f",
      '{{index .Config.Labels "app"}}|{{json .Config.Labels}}|{{.State.Pid}}',
      web,
    ]);
    const [app, labels, pid] = f.stdout.trim().split("|");
    assert.equal(app, "web");
    assert.deepEqual(JSON.parse(labels), { app: "web", tier: "" });
    assert.ok(Deno.statSync(`/proc/${pid}`).isDirectory);
    const table = await m([
      "ps",
      "--filter",
      "label=app=db",
      "--format",
      "table {{.Names}}\\t{{.Labels}}",
    ]);
    assert.equal(table.stdout, "NAMES\tLABELS\ndb1\tapp=db\n");
    const full = await m(["ps", "--no-trunc", "-q", "-l"]);
    assert.equal(full.stdout.trim(), db);
    for (
      const bad of [["ps", "--filter", "colour=red"], ["inspect", "-f", "{{if .X}}y{{end}}", web]]
    ) {
      const r = await m(bad);
      assert.equal(r.code, 125, bad.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
  },
);

withStateRoot("inspect: docker's sections from the run flags", async (m) => {
  const host = Deno.makeTempDirSync();
  try {
    const r = await m([
      "run",
      "-d",
      "--cidfile",
      `${host}/cid`,
      "--shm-size",
      "8m",
      "--stop-timeout",
      "3",
      "--stop-signal",
      "SIGUSR1",
      "-v",
      `${host}:/data:ro`,
      "--tmpfs",
      "/scratch",
      "-e",
      "A=1",
      "sh",
      "-c",
      "df -k /dev/shm | tail -1; sleep 1000",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.equal(Deno.readTextFileSync(`${host}/cid`), id);
    const [view] = JSON.parse((await m(["inspect", id])).stdout);
    assert.equal(view.Id, id);
    assert.equal(view.Config.StopTimeout, 3);
    assert.equal(view.Config.StopSignal, "SIGUSR1");
    assert.ok(view.Config.Env.includes("A=1"));
    assert.equal(view.HostConfig.ShmSize, 8 * 1024 * 1024);
    assert.deepEqual(view.HostConfig.Binds, [`${host}:/data:ro`]);
    assert.deepEqual(view.Mounts.map((x: { Destination: string }) => x.Destination), [
      "/data",
      "/scratch",
    ]);
    assert.equal(view.Mounts[0].RW, false);
    assert.equal(view.State.Status, "running");
    assert.ok("LogPath" in view);
    // The shm size reached the kernel: 8 MiB is 8192 KiB.
    const shm = await m(["exec", id, "sh", "-c", "df -k /dev/shm | tail -1"]);
    assert.match(shm.stdout, /\s8192\s/);
    // The cidfile exists now: a second run refuses it, leaving nothing behind.
    const before = (await m(["ps", "-aq"])).stdout;
    const again = await m(["run", "-d", "--cidfile", `${host}/cid`, "true"]);
    assert.equal(again.code, 125);
    assert.match(again.stderr, /cidfile/);
    assert.equal((await m(["ps", "-aq"])).stdout, before);
    for (
      const bad of [["--stop-timeout", "soon"], ["--stop-signal", "SIGNOPE"], [
        "--shm-size",
        "lots",
      ]]
    ) {
      const b = await m(["run", "-d", ...bad, "true"]);
      assert.equal(b.code, 125, bad.join(" "));
    }
  } finally {
    Deno.removeSync(host, { recursive: true });
  }
});

withStateRoot("run --env-file: files then -e, comments and blank lines skipped", async (m) => {
  const file = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(file, "# settings\nA=1\n\nB=x=y\nC=file\n");
    const r = await m(["run", "--env-file", file, "-e", "C=flag", "sh", "-c", 'echo "$A|$B|$C"']);
    assert.equal(r.stdout, "1|x=y|flag\n", r.stderr);
    Deno.writeTextFileSync(file, "BAD NAME=1\n");
    const bad = await m(["run", "--env-file", file, "true"]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /line 1/);
  } finally {
    Deno.removeSync(file);
  }
});

withStateRoot("stop: the container's own --stop-timeout as the grace period", async (m) => {
  // The shell ignores SIGTERM: only the SIGKILL after the grace period ends it.
  const id =
    (await m(["run", "-d", "--stop-timeout", "1", "sh", "-c", "trap '' TERM; sleep 1000 & wait"]))
      .stdout.trim();
  const t0 = Date.now();
  assert.equal((await m(["stop", id])).code, 0);
  const took = Date.now() - t0;
  assert.ok(took >= 900 && took < 5000, `stop took ${took} ms`);
});

withStateRoot(
  "rename: the new name resolves, the old one is free; a name in use is refused",
  async (m) => {
    const a = (await m(["run", "-d", "--name", "first", "sleep", "1000"])).stdout.trim();
    const b = (await m(["run", "-d", "--name", "second", "sleep", "1000"])).stdout.trim();
    assert.equal((await m(["rename", "first", "renamed"])).code, 0);
    assert.equal(
      (await m(["inspect", "-f", "{{.Id}} {{.Name}}", "renamed"])).stdout,
      `${a} renamed\n`,
    );
    assert.equal((await m(["inspect", "first"])).code, 125);
    const taken = await m(["rename", "renamed", "second"]);
    assert.equal(taken.code, 125);
    assert.match(taken.stderr, /already in use by container/);
    assert.equal((await m(["inspect", "-f", "{{.Name}}", b])).stdout, "second\n");
    // The old name is free again: a new container takes it.
    assert.equal((await m(["run", "-d", "--name", "first", "true"])).code, 0);
    for (
      const bad of [["rename", "nosuch", "x"], ["rename", "renamed", "bad name"], [
        "rename",
        "renamed",
      ]]
    ) {
      assert.equal((await m(bad)).code, 125, bad.join(" "));
    }
    assert.equal(
      (await m(["ps", "-a", "--filter", "name=renamed", "-q"])).stdout.trim(),
      a.slice(0, 12),
    );
  },
);

withStateRoot(
  "top lists the container's processes only; container prune removes the stopped ones",
  async (m) => {
    const id = (await m(["run", "-d", "sh", "-c", "sleep 1001 & sleep 1002"])).stdout.trim();
    const top = await m(["top", id]);
    assert.equal(top.code, 0, top.stderr);
    const lines = top.stdout.trim().split("\n");
    assert.match(lines[0], /PID/);
    assert.ok(
      lines.some((l) => l.endsWith("sleep 1001")) && lines.some((l) => l.endsWith("sleep 1002")),
    );
    assert.ok(!lines.some((l) => /deno|minicontainer/.test(l)), top.stdout);
    const custom = await m(["top", id, "-o", "pid,comm"]);
    assert.match(custom.stdout, /^\s*PID COMMAND\n/);
    const done = (await m(["run", "-d", "true"])).stdout.trim();
    const end = Date.now() + 10_000;
    while (Date.now() < end && (await m(["ps", "-q"])).stdout.includes(done.slice(0, 12))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const pruned = await m(["container", "prune", "-f"]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, new RegExp(done));
    assert.doesNotMatch(pruned.stdout, new RegExp(id));
    assert.deepEqual((await m(["container", "ls", "-aq"])).stdout.trim(), id.slice(0, 12));
    assert.equal((await m(["top", "nosuch"])).code, 125);
    assert.equal((await m(["container", "prune"])).code, 125, "no -f and no terminal");
  },
);

withStateRoot(
  "stats --no-stream: a busy container's CPU, its memory limit and processes",
  async (m) => {
    const id =
      (await m(["run", "-d", "--name", "busy", "-m", "64m", "sh", "-c", "while :; do :; done"]))
        .stdout.trim();
    const r = await m(["stats", "--no-stream", "--format", "json", "busy"]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.ID, id.slice(0, 12));
    assert.ok(parseFloat(s.CPUPerc) > 10, `a spinning shell used ${s.CPUPerc}`);
    // docker's units: binary for memory, decimal for I/O.
    assert.match(s.MemUsage, /^[\d.]+(B|KiB|MiB) \/ 64MiB$/);
    assert.match(s.NetIO, /^0B \/ 0B$/, "--network none: nothing but lo");
    assert.match(s.BlockIO, /^[\d.]+(B|kB|MB|GB) \/ [\d.]+(B|kB|MB|GB)$/);
    assert.ok(Number(s.PIDs) >= 1);
    const table = await m(["stats", "--no-stream"]);
    assert.match(
      table.stdout,
      /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS\n/,
    );
    assert.match(table.stdout, /busy/);
    assert.equal((await m(["stats", "--no-stream", "nosuch"])).code, 125);
  },
);

withStateRoot(
  "--sysctl: namespaced ones reach the container only; host-wide ones refused",
  async (m) => {
    const hostTtl = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_default_ttl");
    const hostShm = Deno.readTextFileSync("/proc/sys/kernel/shmmni");
    const r = await m([
      "run",
      "--sysctl",
      "net.ipv4.ip_default_ttl=99",
      "--sysctl",
      "kernel/shmmni=1234",
      "cat",
      "/proc/sys/net/ipv4/ip_default_ttl",
      "/proc/sys/kernel/shmmni",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "99\n1234\n");
    assert.equal(Deno.readTextFileSync("/proc/sys/net/ipv4/ip_default_ttl"), hostTtl);
    assert.equal(Deno.readTextFileSync("/proc/sys/kernel/shmmni"), hostShm);
    const cases: [string[], RegExp][] = [
      [["--sysctl", "kernel.hostname=x"], /not a namespaced sysctl/],
      [["--sysctl", "vm.swappiness=1"], /not a namespaced sysctl/],
      [["--network", "host", "--sysctl", "net.ipv4.ip_default_ttl=1"], /own network/],
      [["--sysctl", "net.ipv4.../../../kernel/x=1"], /not a sysctl name/],
      [["--sysctl", "net.nope.x=1"], /No such file/],
      [["--sysctl", "noequals"], /not K=V/],
    ];
    for (const [flags, why] of cases) {
      const b = await m(["run", ...flags, "true"]);
      assert.equal(b.code, 125, flags.join(" "));
      assert.match(b.stderr, why);
    }
    assert.equal(Deno.readTextFileSync("/proc/sys/net/ipv4/ip_default_ttl"), hostTtl);
  },
);

withStateRoot(
  "a paused container still stops, takes kill's signal and goes with rm -f",
  async (m) => {
    const trap = "trap 'exit 3' USR1; while :; do sleep 0.1; done";
    const a = (await m(["run", "-d", "sh", "-c", trap])).stdout.trim();
    const b = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
    const c = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
    for (const id of [a, b, c]) assert.equal((await m(["pause", id])).code, 0);
    assert.equal((await m(["kill", "-s", "USR1", a])).code, 0);
    const t0 = Date.now();
    assert.equal((await m(["stop", "-t", "1", b])).code, 0);
    assert.ok(Date.now() - t0 < 8000, "stop of a paused container hung");
    assert.equal((await m(["rm", "-f", c])).code, 0);
    const end = Date.now() + 5000;
    let status = "";
    while (Date.now() < end) {
      status = (await m(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", a])).stdout
        .trim();
      if (status.startsWith("exited")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, "exited 3", "the paused container did not get USR1");
    assert.equal((await m(["inspect", "-f", "{{.State.ExitCode}}", b])).stdout.trim(), "137");
  },
);
