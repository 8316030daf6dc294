// Detached containers and the verbs around them, against the real kernel.
import assert from "node:assert/strict";
import {
  containerCgroups,
  hostMounts,
  LAUNCHER,
  mc,
  newCgroups,
  processesWith,
  REPO,
  rootOnly,
  waitFor,
} from "./helpers.ts";

/** What a state root holds besides containers: the names index and the owners journal. */
const LAYOUT = ["names", "owners"];

/** A state root of the test's own, so real containers are never touched. */
function withRoot(
  name: string,
  body: (m: (args: string[]) => ReturnType<typeof mc>, root: string) => Promise<void>,
) {
  Deno.test({
    ...rootOnly(name),
    async fn() {
      const root = Deno.makeTempDirSync({ prefix: "mc-state-" });
      const mounts = hostMounts();
      const cgroups = containerCgroups();
      const m = (args: string[]) => mc(["--root", root, ...args]);
      try {
        await body(m, root);
      } finally {
        for (const e of Deno.readDirSync(root)) {
          if (!LAYOUT.includes(e.name)) await m(["rm", "-f", e.name]);
        }
        const left = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) =>
          !LAYOUT.includes(n)
        );
        Deno.removeSync(root, { recursive: true });
        assert.deepEqual(left, [], "state left behind");
        assert.deepEqual(hostMounts(), mounts, "the host mount table changed");
        assert.deepEqual(newCgroups(cgroups), [], "a container cgroup was left behind");
      }
    },
  });
}

withRoot(
  "run -d: returns at once with the id, survives its launcher; logs, logs -f, ps",
  async (m) => {
    const started = await m([
      "run",
      "-d",
      "--name",
      "ticker",
      "sh",
      "-c",
      "echo hello; echo oops >&2; sleep 0.6; echo bye",
    ]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout.trim(), /^[0-9a-f]{64}$/);
    const id = started.stdout.trim();
    const ps = await m(["ps"]);
    assert.match(ps.stdout, new RegExp(`^${id.slice(0, 12)} .* Up .* ticker$`, "m"));
    const follow = await m(["logs", "-f", "ticker"]);
    assert.equal(follow.stdout, "hello\nbye\n");
    assert.equal(follow.stderr, "oops\n");
    const tail = await m(["logs", "--tail", "1", "-t", id.slice(0, 6)]);
    assert.match(tail.stdout, /^\d{4}-\d\d-\d\dT[\d:.]+Z bye$/m);
    const json = (await m(["ps", "-a", "--format", "json"])).stdout.trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(json.length, 1);
    assert.equal(json[0].Names, "ticker");
    assert.equal(json[0].State, "exited");
    assert.equal(
      (await m(["ps"])).stdout.trim().split("\n").length,
      1,
      "ps without -a shows no exited container",
    );
    const inspect = JSON.parse((await m(["inspect", "ticker"])).stdout)[0];
    assert.equal(inspect.State.ExitCode, 0);
    assert.ok(inspect.State.StartedAt && inspect.State.FinishedAt);
  },
);

withRoot(
  "exec: joins the container's namespaces, sees its PID 1, returns the command's status",
  async (m) => {
    assert.equal(
      (await m(["run", "-d", "--name", "app", "--hostname", "apphost", "sleep", "300"])).code,
      0,
    );
    const r = await m([
      "exec",
      "-e",
      "X=1",
      "-w",
      "/tmp",
      "app",
      "sh",
      "-c",
      "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $X; pwd; exit 3",
    ]);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(r.stdout.split("\n").slice(0, 4), ["apphost", "sleep 300 ", "1", "/tmp"]);
    const missing = await m(["exec", "app", "nosuch"]);
    assert.equal(missing.code, 127);
  },
);

withRoot(
  "stop: 137 after the grace period when SIGTERM is ignored, 143 when it ends the container",
  async (m) => {
    // Its own duration: processesWith looks host-wide, and other tests (image_test.ts) sleep 300 too.
    await m(["run", "-d", "--name", "stubborn", "sleep", "311"]);
    const t0 = Date.now();
    assert.equal((await m(["stop", "-t", "1", "stubborn"])).code, 0);
    assert.ok(Date.now() - t0 >= 1000, "waited the grace period");
    assert.equal(JSON.parse((await m(["inspect", "stubborn"])).stdout)[0].State.ExitCode, 137);
    await m(["run", "-d", "--init", "--name", "polite", "sleep", "311"]);
    assert.equal((await m(["stop", "polite"])).code, 0);
    assert.equal(JSON.parse((await m(["inspect", "polite"])).stdout)[0].State.ExitCode, 143);
    assert.deepEqual(processesWith("sleep 311"), []);
  },
);

withRoot(
  "kill -s, then rm leaves no state; two rm at once: one removes, the other says it is gone",
  async (m, root) => {
    await m([
      "run",
      "-d",
      "--name",
      "victim",
      "sh",
      "-c",
      "trap 'exit 42' USR1; while true; do sleep 0.1; done",
    ]);
    assert.equal((await m(["kill", "-s", "USR1", "victim"])).code, 0);
    const stateFile = `${root}/${Deno.readTextFileSync(`${root}/names/victim`)}/state.json`;
    await waitFor(
      () => JSON.parse(Deno.readTextFileSync(stateFile)).status === "exited",
      10_000,
      "the exit",
    );
    assert.equal(JSON.parse(Deno.readTextFileSync(stateFile)).exitCode, 42);
    const [a, b] = await Promise.all([m(["rm", "victim"]), m(["rm", "victim"])]);
    assert.deepEqual([a.code, b.code].sort(), [0, 125]);
    assert.match(a.code ? a.stderr : b.stderr, /no such container/);
    assert.deepEqual(
      [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => !LAYOUT.includes(n)),
      [],
    );
    assert.deepEqual(
      [...Deno.readDirSync(`${root}/names`)].filter((e) => !e.name.startsWith(".")),
      [],
    );
  },
);

withRoot(
  "rm of a running container needs -f; --rm removes a detached container when it exits",
  async (m, root) => {
    await m(["run", "-d", "--name", "busy", "sleep", "312"]);
    const refused = await m(["rm", "busy"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /it is running; stop it first or use rm -f/);
    assert.equal((await m(["rm", "-f", "busy"])).code, 0);
    await m(["run", "-d", "--rm", "--name", "brief", "true"]);
    await waitFor(
      () => [...Deno.readDirSync(root)].every((e) => LAYOUT.includes(e.name)),
      10_000,
      "--rm to remove the container",
    );
  },
);

withRoot("ps after the supervisor is killed does not claim the container runs", async (m) => {
  await m(["run", "-d", "--name", "orphan", "sleep", "313"]);
  const state = JSON.parse((await m(["inspect", "orphan"])).stdout)[0];
  assert.equal(state.State.Status, "running");
  const supervisors = processesWith("sleep 313").length;
  assert.equal(supervisors, 1);
  // The supervisor is the container's parent: kill it as a crash would.
  const ppid = Number(
    Deno.readTextFileSync(`/proc/${state.State.Pid}/stat`).split(") ")[1].split(" ")[1],
  );
  Deno.kill(ppid, "SIGKILL");
  await waitFor(
    () => processesWith("sleep 313").length === 0,
    10_000,
    "the container to die with its supervisor",
  );
  const ps = await m(["ps", "-a"]);
  assert.doesNotMatch(ps.stdout, /Up /);
  assert.match(ps.stdout, /orphan/);
  assert.equal(JSON.parse((await m(["inspect", "orphan"])).stdout)[0].State.Running, false);
});

withRoot(
  "bad input: unknown names, names in use, ambiguous prefixes, exec into a stopped container",
  async (m) => {
    for (
      const args of [["exec", "ghost", "true"], ["stop", "ghost"], ["logs", "ghost"], [
        "rm",
        "ghost",
      ], ["inspect", "ghost"]]
    ) {
      const r = await m(args);
      assert.equal(r.code, 125, args.join(" "));
      assert.equal(r.stderr.trim(), "minicontainer: find container ghost: no such container");
    }
    await m(["run", "-d", "--name", "taken", "true"]);
    const dup = await m(["run", "-d", "--name", "taken", "true"]);
    assert.equal(dup.code, 125);
    assert.match(dup.stderr, /the name is already in use by container [0-9a-f]{12}/);
    // Enough containers that some share a first hex digit.
    for (let i = 0; i < 17; i++) await m(["run", "-d", "true"]);
    const ids = (await m(["ps", "-a", "-q"])).stdout.trim().split("\n");
    const firsts = ids.map((id) => id[0]);
    const shared = firsts.find((c, i) => firsts.indexOf(c) !== i)!;
    const ambiguous = await m(["inspect", shared]);
    assert.equal(ambiguous.code, 125);
    assert.match(ambiguous.stderr, /the id prefix matches \d+ containers/);
    const stopped = await m(["exec", "taken", "true"]);
    assert.equal(stopped.code, 125);
    assert.match(stopped.stderr, /the container is not running/);
  },
);

withRoot(
  "create: Created in ps -a, no process; start, restart (a new pid), stop, start keep the writable layer",
  async (m, root) => {
    const script = "cat /keep 2>/dev/null; echo x >> /keep; exec sleep 1000";
    const made = await m(["create", "--name", "life", "sh", "-c", script]);
    assert.equal(made.code, 0, made.stderr);
    const id = made.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match((await m(["ps", "-a"])).stdout, /\bCreated\s+life\n/);
    assert.equal((await m(["ps", "-q"])).stdout, "", "a created container is not running");
    assert.equal((await m(["inspect", "-f", "{{.State.Status}}", "life"])).stdout, "created\n");
    assert.deepEqual(containerCgroups().filter((p) => p.includes(id)), [], "a cgroup before start");
    const status = async () =>
      (await m(["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "life"])).stdout.trim()
        .split(" ");
    const started = await m(["start", "life"]);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(started.stdout, "life\n");
    const [s1, pid1] = await status();
    assert.equal(s1, "running");
    assert.ok(Number(pid1) > 0);
    // Starting a running container: nothing happens, and that is success.
    const again = await m(["start", "life"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await status())[1], pid1);
    const restarted = await m(["restart", "-t", "1", "life"]);
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.equal(restarted.stdout, "life\n");
    const [s2, pid2] = await status();
    assert.equal(s2, "running");
    assert.notEqual(pid2, pid1, "restart kept the pid");
    assert.equal((await m(["exec", "life", "cat", "/keep"])).stdout, "x\nx\n");
    assert.equal((await m(["stop", "-t", "1", "life"])).code, 0);
    assert.equal((await status())[0], "exited");
    assert.equal((await m(["start", "life"])).code, 0);
    // The writable layer is the same one: a third line in the file the first start wrote.
    assert.equal((await m(["exec", "life", "cat", "/keep"])).stdout, "x\nx\nx\n");
    // Its log runs on across starts: what cat printed the second and third time.
    let log = "";
    for (let i = 0; i < 100 && log !== "x\nx\nx\n"; i++) {
      log = (await m(["logs", "life"])).stdout;
      if (log !== "x\nx\nx\n") await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(log, "x\nx\nx\n");
    // The same id throughout, and one container.
    assert.equal((await m(["ps", "-a", "-q", "--no-trunc"])).stdout.trim(), id);
    assert.ok(Deno.statSync(`${root}/${id}/state.json`).isFile);
  },
);

withRoot(
  "start -a: the output and the exit code; create --name twice: 125, one container; bad names",
  async (m) => {
    const made = await m([
      "create",
      "--name",
      "once",
      "sh",
      "-c",
      "echo out; echo err >&2; exit 7",
    ]);
    assert.equal(made.code, 0, made.stderr);
    for (let i = 0; i < 2; i++) {
      // The second start -a runs the exited container again.
      const r = await m(["start", "-a", "once"]);
      assert.equal(r.code, 7, r.stderr);
      assert.equal(r.stdout, "out\n");
      assert.equal(r.stderr, "err\n");
    }
    assert.equal((await m(["inspect", "-f", "{{.State.ExitCode}}", "once"])).stdout, "7\n");
    const dup = await m(["create", "--name", "once", "true"]);
    assert.equal(dup.code, 125);
    assert.match(dup.stderr, /the name is already in use by container [0-9a-f]{12}/);
    assert.equal(dup.stderr.trim().split("\n").length, 1, dup.stderr);
    assert.equal((await m(["ps", "-a", "-q"])).stdout.trim().split("\n").length, 1);
    for (const args of [["start", "ghost"], ["restart", "ghost"], ["start", "-a", "ghost"]]) {
      const r = await m(args);
      assert.equal(r.code, 125, args.join(" "));
      assert.equal(r.stderr.trim(), "minicontainer: find container ghost: no such container");
    }
    const noTty = await m(["start", "-i", "once"]);
    assert.equal(noTty.code, 125);
    assert.match(noTty.stderr, /its stdin is closed \(create it with -i to give it one\)/);
    const none = await m(["create"]);
    assert.equal(none.code, 125);
    assert.match(none.stderr, /create needs a command or an image/);
    // create --rm: gone once it has run, its exit code still start -a's.
    const brief = (await m(["create", "--rm", "sh", "-c", "echo bye; exit 5"])).stdout.trim();
    const ran = await m(["start", "-a", brief]);
    assert.equal(ran.code, 5, ran.stderr);
    assert.equal(ran.stdout, "bye\n");
    let left = "";
    for (let i = 0; i < 100; i++) {
      left = (await m(["ps", "-a", "-q", "--no-trunc"])).stdout;
      if (!left.includes(brief)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(!left.includes(brief), "create --rm kept the container");
  },
);

withRoot(
  "a foreground container's log: logs after it exits, stdout and stderr apart; --rm keeps none",
  async (m) => {
    const r = await m(["run", "--name", "fg", "sh", "-c", "echo one; echo two >&2; exit 3"]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "one\n");
    assert.equal(r.stderr, "two\n");
    const logs = await m(["logs", "fg"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, "one\n");
    assert.equal(logs.stderr, "two\n");
    assert.match((await m(["logs", "-t", "fg"])).stdout, /^\d{4}-\d\d-\d\dT[\d:.]+Z one\n$/);
    // Started again, in the background under a monitor now: its log goes on.
    const again = await m(["start", "-a", "fg"]);
    assert.equal(again.code, 3, again.stderr);
    assert.equal((await m(["logs", "fg"])).stdout, "one\none\n");
    const gone = await m(["run", "--rm", "--name", "brief", "echo", "hi"]);
    assert.equal(gone.stdout, "hi\n");
    assert.equal((await m(["ps", "-a", "-q"])).stdout.trim().split("\n").length, 1);
  },
);

/** Runs LAUNCHER ARGS on a pty, types each of `keys` once `wait` for it shows; its output and exit code. */
async function onPty(
  args: string[],
  steps: [wait: string, keys: string][],
): Promise<{ out: string; code: number }> {
  const script = `
import json, os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
def until(token, timeout=15):
    global out
    end = time.time() + timeout
    while token.encode() not in out and time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return
for wait, keys in json.loads(os.environ["STEPS"]):
    until(wait)
    os.write(fd, keys.encode())
until("\\x00never", 10)
_, status = os.waitpid(pid, 0)
print(json.dumps({"out": out.decode(errors="replace"), "code": os.waitstatus_to_exitcode(status)}))
`;
  const r = await new Deno.Command("python3", {
    args: ["-c", script, LAUNCHER, ...args],
    env: { STEPS: JSON.stringify(steps) },
    stdout: "piped",
  }).output();
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

withRoot(
  "start -a of a -t container: its output and code; start -ai: a typed shell; start of a paused one",
  async (m, root) => {
    await m(["create", "-t", "--name", "quick", "sh", "-c", "echo hi-tty; exit 6"]);
    const quick = await m(["start", "-a", "quick"]);
    assert.equal(quick.code, 6, quick.stderr);
    assert.equal(quick.stdout, "hi-tty\r\n");
    assert.equal((await m(["create", "-it", "--name", "shell", "sh"])).code, 0);
    const typed = await onPty(["--root", root, "start", "-ai", "shell"], [
      ["# ", "echo typed-$((6*7))\r"],
      ["typed-42", "exit 9\r"],
    ]);
    assert.equal(typed.code, 9, typed.out);
    assert.match(typed.out, /typed-42/);
    await m(["create", "--name", "frozen", "sleep", "100"]);
    assert.equal((await m(["start", "frozen"])).code, 0);
    assert.equal((await m(["pause", "frozen"])).code, 0);
    const paused = await m(["start", "frozen"]);
    assert.equal(paused.code, 125);
    assert.match(paused.stderr, /it is paused; unpause it instead/);
    assert.equal((await m(["unpause", "frozen"])).code, 0);
  },
);

withRoot(
  "start -ai of a -t shell: our size, then resized, as we resize; Ctrl-P Ctrl-Q leaves it running",
  async (m, root) => {
    assert.equal((await m(["create", "-it", "--name", "sized", "sh"])).code, 0);
    const out = await new Deno.Command("python3", {
      args: [
        `${REPO}tests/integration/pty_driver.py`,
        LAUNCHER,
        "--root",
        root,
        "start",
        "-ai",
        "sized",
      ],
      env: { PTY_MODE: "attach" },
      stdout: "piped",
    }).output();
    const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    assert.equal(r.error, undefined, `${r.error}\n${r.output}`);
    assert.equal(r.size, "40 132", "the container's terminal took ours at attach");
    assert.equal(r.resized, "50 160", "and followed our SIGWINCH");
    assert.equal(r.exit, 0);
    assert.equal(r.mode_restored, true);
    const status = await m(["inspect", "-f", "{{.State.Status}}", "sized"]);
    assert.equal(status.stdout.trim(), "running", status.stderr);
  },
);

withRoot(
  "create -i, start -ai without a terminal: stdin to the container, its end closes the container's stdin",
  async (m, root) => {
    const made = await m([
      "create",
      "-i",
      "--name",
      "cat",
      "sh",
      "-c",
      "cat; echo ended >&2; exit 4",
    ]);
    assert.equal(made.code, 0, made.stderr);
    // Larger than a pipe's buffer: the monitor must not stall on a container that reads slowly.
    const text = Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join("");
    for (const input of [text, "again\n"]) {
      const r = await mc(["--root", root, "start", "-ai", "cat"], { stdin: input });
      assert.equal(r.code, 4, r.stderr);
      assert.equal(r.stdout, input);
      assert.equal(r.stderr, "ended\n");
    }
    // run -di: a shell whose stdin stays open keeps running, as in docker.
    assert.equal((await m(["run", "-di", "--name", "held", "sh"])).code, 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await m(["inspect", "-f", "{{.State.Status}}", "held"])).stdout, "running\n");
  },
);
