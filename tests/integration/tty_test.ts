// `run -it`: a real pty drives the runtime, as a terminal does.
import assert from "node:assert/strict";
import { LAUNCHER, mc, REPO, rootOnly } from "./helpers.ts";

async function drive(args: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command("python3", {
    args: [`${REPO}tests/integration/pty_driver.py`, LAUNCHER, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  const result = JSON.parse(text.split("\n").at(-1) ?? "{}");
  assert.equal(result.error, undefined, `${result.error}\n${result.output}`);
  return result;
}

for (const flags of [[], ["--init"]]) {
  Deno.test({
    ...rootOnly(
      `run -it ${flags.join(" ")}: a terminal, its size followed, Ctrl-C to the job, mode restored`,
    ),
    async fn() {
      const r = await drive(["run", "-it", ...flags, "sh"]);
      assert.equal(r.tty, "/dev/pts/0", "the pty comes from the container's own devpts");
      assert.equal(r.size, "30 100");
      assert.equal(r.resized, "40 120");
      assert.equal(r.interrupted, true, "Ctrl-C ended sleep, not the shell");
      assert.equal(r.raw_host_output, true, "the host terminal does no output processing");
      assert.equal(r.exit, 7);
      assert.equal(r.mode_restored, true, "the host terminal's mode is as before");
    },
  });
}

Deno.test({
  ...rootOnly("exec -it: a terminal in a running container, its size followed, Ctrl-C to the job"),
  async fn() {
    const root = Deno.makeTempDirSync({ prefix: "mc-state-" });
    try {
      assert.equal(
        (await mc(["--root", root, "run", "-d", "--name", "t", "sleep", "300"])).code,
        0,
      );
      const r = await drive(["--root", root, "exec", "-it", "t", "sh"]);
      assert.match(String(r.tty), /^\/dev\/pts\/\d+$/);
      assert.equal(r.size, "30 100");
      assert.equal(r.resized, "40 120");
      assert.equal(r.interrupted, true);
      assert.equal(r.exit, 7);
      assert.equal(r.mode_restored, true);
    } finally {
      await mc(["--root", root, "rm", "-f", "t"]);
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test({
  ...rootOnly("run -t without a terminal on stdin: output through a pty; -it refuses"),
  async fn() {
    const r = await mc(["run", "-t", "sh", "-c", "tty; echo done"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "/dev/pts/0\r\ndone\r\n");
    const it = await mc(["run", "-it", "sh"]);
    assert.equal(it.code, 125);
    assert.match(it.stderr, /the input device is not a TTY/);
  },
});
