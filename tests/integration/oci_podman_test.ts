/**
 * podman drives minicontainer as its OCI runtime, through conmon: the
 * runc command line (create, start, exec --process, kill, delete, state)
 * against a real podman with its own storage, state and containers.conf in
 * a temporary directory, and an image imported from the default busybox
 * rootfs (no network).
 * @module
 */

import assert from "node:assert/strict";
import { mc, removeCgroupTree, REPO, rootOnly } from "./helpers.ts";

/** podman refuses a runroot of more than 50 characters: a short directory of its own. */
const HOME = (() => {
  const dir = Deno.makeTempDirSync({ dir: "/tmp", prefix: "mcpm-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* a container's files still held */ }
  });
  return dir;
})();
const decoder = new TextDecoder();

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs podman with the test's storage and configuration. */
async function podman(args: string[], stdin?: string): Promise<Out> {
  const child = new Deno.Command("podman", {
    args: [
      "--root",
      `${HOME}/storage`,
      "--runroot",
      `${HOME}/run`,
      "--tmpdir",
      `${HOME}/tmp`,
      "--storage-driver",
      "vfs",
      ...args,
    ],
    env: { CONTAINERS_CONF: `${HOME}/containers.conf` },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

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
    Deno.mkdirSync(`${HOME}/tmp`, { recursive: true });
    Deno.writeTextFileSync(
      `${HOME}/containers.conf`,
      [
        "[containers]",
        // Rootful podman's defaults (nofile and nproc 1048576) are above this
        // machine's hard limits: every runtime fails them.
        'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
        "[engine]",
        'runtime = "minicontainer"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        // podman passes --log-format=json --log FILE only to runtimes listed here.
        'runtime_supports_json = ["crun", "runc", "minicontainer"]',
        "[engine.runtimes]",
        `minicontainer = ["${HOME}/minicontainer"]`,
        "",
      ].join("\n"),
    );
    // The repository's launcher with the test's state root: conmon passes no
    // environment on, and podman calls `delete` without its --runtime-flag.
    Deno.writeTextFileSync(
      `${HOME}/minicontainer`,
      `#!/bin/sh\nMINICONTAINER_ROOT='${ROOT}' exec '${REPO}minicontainer' "$@"\n`,
      { mode: 0o755 },
    );
    const built = await mc(["rootfs", "build", `${HOME}/rootfs`]);
    assert.equal(built.code, 0, built.stderr);
    const tar = await new Deno.Command("tar", {
      args: ["-C", `${HOME}/rootfs`, "-cf", `${HOME}/rootfs.tar`, "."],
    }).output();
    assert.ok(tar.success, decoder.decode(tar.stderr));
    const imported = await podman(["import", `${HOME}/rootfs.tar`, "localhost/bb:1"]);
    assert.equal(imported.code, 0, imported.stderr);
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
    "--root",
    `${HOME}/storage`,
    "--runroot",
    `${HOME}/run`,
    "--tmpdir",
    `${HOME}/tmp`,
    "--storage-driver",
    "vfs",
    ...RUN,
    "-it",
    "--rm",
    "localhost/bb:1",
    "sh",
    "-c",
    "'tty; echo done'",
  ].join(" ");
  const out = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env: { CONTAINERS_CONF: `${HOME}/containers.conf` },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decoder.decode(out.stdout);
  assert.equal(out.code, 0, text + decoder.decode(out.stderr));
  // A terminal's output: \r\n line ends, the container's own pty.
  assert.equal(text, "/dev/pts/0\r\ndone\r\n");
});
