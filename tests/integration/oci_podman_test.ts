/**
 * podman drives minicontainer as its OCI runtime, through conmon: the
 * runc command line (create, start, exec --process, kill, delete, state)
 * against a real podman with its own storage, state and containers.conf in
 * a temporary directory, and an image imported from the default busybox
 * rootfs (no network).
 * @module
 */

import assert from "node:assert/strict";
import { LAUNCHER, mc, removeCgroupTree, rootOnly } from "./helpers.ts";
import {
  podman as runPodman,
  podmanEnv,
  podmanFlags,
  podmanHome,
  setUpPodman,
} from "./podman_fixture.ts";

const HOME = (() => {
  const dir = podmanHome();
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* a container's files still held */ }
  });
  return dir;
})();
const decoder = new TextDecoder();

/** Runs podman with the test's storage and configuration. */
const podman = (args: string[], stdin?: string) => runPodman(HOME, args, stdin);

/** The test process's own state root (helpers.ts), where minicontainer keeps OCI containers. */
const ROOT = Deno.env.get("MINICONTAINER_ROOT")!;

let ready: Promise<void> | undefined;

/** A podman test; afterwards the cgroups it made (podman's conmon one too) are removed. */
function podmanTest(name: string, body: () => Promise<void>): void {
  Deno.test(rootOnly(name), async () => {
    try {
      await body();
    } finally {
      await removeCgroupTree(CGROUP_PARENT);
    }
  });
}

/** containers.conf naming minicontainer, and the busybox rootfs imported as localhost/bb:1. */
function setUp(): Promise<void> {
  ready ??= (async () => {
    const built = await mc(["rootfs", "build", `${HOME}/rootfs`]);
    assert.equal(built.code, 0, built.stderr);
    await setUpPodman(HOME, { launcher: LAUNCHER, stateRoot: ROOT, rootfs: `${HOME}/rootfs` });
  })();
  return ready;
}

/** Containers' cgroups go below a parent of the test's own, removed at the end. */
const CGROUP_PARENT = `mc-podman-test-${Deno.pid}`;
const RUN = ["run", "--network", "none", "--cgroup-parent", `/${CGROUP_PARENT}`];

podmanTest(
  "podman: run --rm through minicontainer: output, exit status, its runtime",
  async () => {
    await setUp();
    const info = await podman(["info", "--format", "{{.Host.OCIRuntime.Name}}"]);
    assert.equal(info.stdout.trim(), "minicontainer", info.stderr);
    const r = await podman([
      ...RUN,
      "--rm",
      "localhost/bb:1",
      "sh",
      "-c",
      "echo hello; hostname; exit 3",
    ]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^hello\n[0-9a-f]{12}\n$/);
    // Nothing left: podman deleted it through minicontainer's delete.
    const list = await mc(["list", "-q"]);
    assert.equal(list.stdout, "");
    const bad = await podman([...RUN, "--rm", "localhost/bb:1", "/no/such/command"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + bad.stdout, /no\/such\/command/);
  },
);

podmanTest("podman: run -d, exec, logs, stop, state through minicontainer", async () => {
  await setUp();
  const started = await podman([
    ...RUN,
    "-d",
    "--name",
    "web",
    "localhost/bb:1",
    "sh",
    "-c",
    'echo started; trap "echo term; exit 3" TERM; while true; do sleep 0.1; done',
  ]);
  assert.equal(started.code, 0, started.stderr);
  const id = started.stdout.trim();
  try {
    // minicontainer's own view of podman's container: the OCI state.
    const state = await mc(["state", id]);
    assert.equal(state.code, 0, state.stderr);
    const s = JSON.parse(state.stdout);
    assert.equal(s.status, "running");
    assert.equal(s.id, id);
    const inspect = await podman(["inspect", "--format", "{{.State.Pid}}", "web"]);
    assert.equal(Number(inspect.stdout), s.pid);

    const exec = await podman(["exec", "web", "sh", "-c", "echo in exec; cat /proc/1/cmdline"]);
    assert.equal(exec.code, 0, exec.stderr);
    assert.match(exec.stdout, /^in exec\nsh\0-c\0echo started/);
    const failing = await podman(["exec", "web", "sh", "-c", "exit 7"]);
    assert.equal(failing.code, 7);

    const stop = await podman(["stop", "-t", "5", "web"]);
    assert.equal(stop.code, 0, stop.stderr);
    const code = await podman(["inspect", "--format", "{{.State.ExitCode}}", "web"]);
    assert.equal(code.stdout.trim(), "3");
    const logs = await podman(["logs", "web"]);
    assert.equal(logs.stdout, "started\nterm\n");
  } finally {
    await podman(["rm", "-f", "-t", "0", "web"]);
  }
  assert.equal((await mc(["state", id])).code, 125, "the OCI state outlived podman rm");
});

podmanTest(
  "podman: --memory and --pids-limit land in the container's cgroup",
  async () => {
    await setUp();
    const r = await podman([
      ...RUN,
      "--rm",
      "--cgroupns",
      "private",
      "--memory",
      "64m",
      "--pids-limit",
      "50",
      "localhost/bb:1",
      "sh",
      "-c",
      "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "67108864\n50\n");
    // From the host: the cgroup podman named (cgroupsPath) is the container's.
    const d = await podman([...RUN, "-d", "--memory", "32m", "localhost/bb:1", "sleep", "30"]);
    assert.equal(d.code, 0, d.stderr);
    const id = d.stdout.trim();
    try {
      const pid = Number((await podman(["inspect", "--format", "{{.State.Pid}}", id])).stdout);
      const memory = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n")
        .find((l) => /:memory:/.test(l))!.split(":")[2];
      assert.match(memory, new RegExp(`/libpod-${id}$`));
      assert.equal(
        Deno.readTextFileSync(`/sys/fs/cgroup/memory${memory}/memory.limit_in_bytes`).trim(),
        `${32 * 1024 * 1024}`,
      );
      const pause = await podman(["pause", id]);
      assert.equal(pause.code, 0, pause.stderr);
      assert.equal(JSON.parse((await mc(["state", id])).stdout).status, "paused");
      assert.equal((await podman(["unpause", id])).code, 0);
      assert.equal(JSON.parse((await mc(["state", id])).stdout).status, "running");
    } finally {
      await podman(["rm", "-f", "-t", "0", id]);
    }
  },
);

podmanTest("podman: run -it gets a pty through --console-socket", async () => {
  await setUp();
  // podman -t needs a terminal of its own: script(1) gives it one.
  const command = [
    "podman",
    ...podmanFlags(HOME),
    ...RUN,
    "-it",
    "--rm",
    "localhost/bb:1",
    "sh",
    "-c",
    "'tty; echo done'",
  ].join(" ");
  // script's stdin stays open and silent until it ends: at EOF script would
  // send the terminal's EOF character on, and podman -i would relay it to
  // the container's pty, which echoes it when it comes early enough.
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env: podmanEnv(HOME),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  await child.stdin.close().catch(() => {});
  const text = decoder.decode(out.stdout);
  assert.equal(out.code, 0, text + decoder.decode(out.stderr));
  // A terminal's output: \r\n line ends, the container's own pty.
  assert.equal(text, "/dev/pts/0\r\ndone\r\n");
});
