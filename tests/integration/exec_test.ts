// exec as docker's: the container's rlimits, TERM with -t, -d, --privileged,
// --env-file, against real containers.
import assert from "node:assert/strict";
import { withStateRoot } from "./helpers.ts";

withStateRoot("exec: the container's rlimits, not the caller's", async (m) => {
  const run = await m(["run", "-d", "--ulimit", "nofile=1000:1000", "sleep", "1000"]);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  const got = await m([
    "exec",
    id,
    "sh",
    "-c",
    "cat /proc/1/limits; echo ---; cat /proc/self/limits",
  ]);
  assert.equal(got.code, 0, got.stderr);
  const [pid1, self] = got.stdout.split("---\n");
  assert.match(pid1, /open files\s+1000\s+1000\s/);
  assert.equal(self, pid1);
});

withStateRoot("exec -t sets TERM=xterm, -e TERM wins, none without -t", async (m) => {
  const id = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
  const t = await m(["exec", "-t", id, "sh", "-c", "echo TERM=$TERM"]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stdout.trim(), "TERM=xterm");
  const e = await m(["exec", "-t", "-e", "TERM=vt100", id, "sh", "-c", "echo TERM=$TERM"]);
  assert.equal(e.stdout.trim(), "TERM=vt100");
  const none = await m(["exec", id, "sh", "-c", "echo TERM=$TERM"]);
  assert.equal(none.stdout.trim(), "TERM=");
});

withStateRoot("exec -d returns at once; the command runs on, output discarded", async (m) => {
  const id = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
  const t0 = Date.now();
  const d = await m(["exec", "-d", id, "sh", "-c", "echo noise; sleep 3; echo done > /tmp/mark"]);
  const took = Date.now() - t0;
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout, "");
  assert.ok(took < 2500, `exec -d took ${took} ms`);
  const running = await m(["exec", id, "ps"]);
  assert.match(running.stdout, /sleep 3/);
  const end = Date.now() + 10_000;
  let mark = "";
  while (Date.now() < end) {
    mark = (await m(["exec", id, "cat", "/tmp/mark"])).stdout;
    if (mark) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(mark.trim(), "done");
  const bad = await m(["exec", "-d", "-t", id, "true"]);
  assert.equal(bad.code, 125);
});

withStateRoot("exec --privileged: every capability; without it the container's", async (m) => {
  const id = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
  const cap = async (extra: string[]) =>
    BigInt(
      "0x" +
        /CapEff:\s+([0-9a-f]+)/.exec(
          (await m(["exec", ...extra, id, "cat", "/proc/self/status"])).stdout,
        )![1],
    );
  const pid1 = BigInt(
    "0x" +
      /CapEff:\s+([0-9a-f]+)/.exec((await m(["exec", id, "cat", "/proc/1/status"])).stdout)![1],
  );
  assert.equal(await cap([]), pid1);
  const priv = await cap(["--privileged"]);
  const SYS_ADMIN = 1n << 21n;
  assert.equal(pid1 & SYS_ADMIN, 0n);
  assert.notEqual(priv & SYS_ADMIN, 0n);
});

withStateRoot("exec --env-file: K=V lines, comments skipped; -e after wins", async (m) => {
  const id = (await m(["run", "-d", "sleep", "1000"])).stdout.trim();
  const file = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(file, "# comment\nA=1\n\nB=two words\nC=from file\n");
    const got = await m([
      "exec",
      "--env-file",
      file,
      "-e",
      "C=flag",
      id,
      "sh",
      "-c",
      'echo "$A|$B|$C"',
    ]);
    assert.equal(got.stdout.trim(), "1|two words|flag");
    const missing = await m(["exec", "--env-file", `${file}.none`, id, "true"]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /read env file/);
  } finally {
    Deno.removeSync(file);
  }
});
