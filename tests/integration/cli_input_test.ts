/**
 * Input at the command line: --help and unknown flags act on nothing, for
 * every command main.ts lists; multi-argument verbs act on every valid
 * argument; bad image configs and stop signals are sentences, never
 * "internal error"; a closed stdout ends a printer quietly.
 */
import assert from "node:assert/strict";
import { COMMAND_NAMES } from "../../main.ts";
import { mc, REPO, rootOnly, sh, TEST_HOME } from "./helpers.ts";
import { writeImage, writeIndex } from "./oci_fixture.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ ...rootOnly(name), sanitizeOps: false, sanitizeResources: false, fn });

const DATA = `${TEST_HOME}/data`;
const STATE = `${TEST_HOME}/state`;

/** Every path under `dirs` with its type, size and mtime: what "nothing changed" compares. */
function snapshot(...dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      const st = Deno.lstatSync(path);
      // Lock files are opened (not changed) by readers; their mtime stays, so keep them.
      out.push(`${path} ${e.isDirectory ? "d" : st.size} ${st.mtime?.getTime()}`);
      if (e.isDirectory && !e.isSymlink && !path.endsWith("/rootfs/default")) walk(path);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort();
}

async function bbImage(ref: string): Promise<void> {
  const dir = await Deno.makeTempDir();
  await sh(
    `mkdir -p ${dir}/r/bin && cp /bin/busybox ${dir}/r/bin/ && ` +
      `for a in sh sleep true; do ln -s busybox ${dir}/r/bin/$a; done && tar -C ${dir}/r -cf ${dir}/bb.tar .`,
  );
  const r = await mc(["import", `${dir}/bb.tar`, ref]);
  assert.equal(r.code, 0, r.stderr);
  await Deno.remove(dir, { recursive: true });
}

/** Runs a bash script (for PIPESTATUS); its stdout. */
async function bash(script: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-c", script], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

/** Rewrites image `ref`'s config in the store's index, as a tampered or odd image would have it. */
function setConfig(ref: string, config: Record<string, unknown>): void {
  const path = `${DATA}/images/index.json`;
  const index = JSON.parse(Deno.readTextFileSync(path));
  Object.assign(index.images[ref].config, config);
  Deno.writeTextFileSync(path, JSON.stringify(index));
}

test("cli: --help and an unknown flag act on nothing, for every command", async () => {
  await bbImage("keep:1");
  const made = await mc(["run", "-d", "--name", "keep", "keep:1", "true"]);
  assert.equal(made.code, 0, made.stderr);
  await new Promise((r) => setTimeout(r, 500)); // let it exit and be recorded
  const commands = [
    ...COMMAND_NAMES.map((c) => [c]),
    ["list"],
    ["image", "ls"],
    ["image", "rm"],
    ["image", "prune"],
    ["rootfs", "build"],
    ["volume", "create"],
    ["volume", "ls"],
    ["volume", "inspect"],
    ["volume", "rm"],
    ["volume", "prune"],
    ["container", "ls"],
    ["container", "prune"],
  ];
  assert.ok(COMMAND_NAMES.length >= 17, `main.ts lists ${COMMAND_NAMES.join(" ")}`);
  const before = snapshot(DATA, STATE);
  for (const cmd of commands) {
    const help = await mc([...cmd, "--help", "keep", "keep:1"]);
    assert.equal(help.code, 0, `${cmd.join(" ")} --help: ${help.stderr}`);
    assert.match(help.stdout, /^Usage: minicontainer /, `${cmd.join(" ")} --help`);
    assert.equal(help.stderr, "", `${cmd.join(" ")} --help`);
    const bogus = await mc([...cmd, "--bogus", "keep", "keep:1"]);
    assert.equal(bogus.code, 125, `${cmd.join(" ")} --bogus: ${bogus.stdout}${bogus.stderr}`);
    assert.equal(bogus.stdout, "", `${cmd.join(" ")} --bogus`);
    assert.equal(bogus.stderr.trim().split("\n").length, 1, `${cmd.join(" ")} --bogus`);
    assert.doesNotMatch(bogus.stderr, /internal error/);
  }
  // Flags docker has and this runtime does not are refused before acting too.
  for (
    const cmd of [
      ["image", "rm", "--no-prune", "keep:1"],
      ["rmi", "--no-prune", "keep:1"],
      ["rm", "-x", "keep"],
    ]
  ) {
    const r = await mc(cmd);
    assert.equal(r.code, 125, `${cmd.join(" ")}: ${r.stderr}`);
  }
  assert.deepEqual(snapshot(DATA, STATE), before, "a --help or a bad flag changed the store");
  assert.equal((await mc(["rm", "keep"])).code, 0);
  assert.equal((await mc(["rmi", "keep:1"])).code, 0);
});

test("cli: stop, kill, rm, rmi and inspect act on every valid argument and report each bad one", async () => {
  await bbImage("multi:1");
  for (const n of ["ma", "mb"]) {
    const r = await mc(["run", "-d", "--name", n, "multi:1", "sleep", "100"]);
    assert.equal(r.code, 0, r.stderr);
  }
  const stop = await mc(["stop", "-t", "0", "ma", "nosuch", "mb"]);
  assert.equal(stop.code, 125);
  assert.equal(stop.stdout, "ma\nmb\n");
  assert.match(stop.stderr, /^minicontainer: find container nosuch: no such container\n$/);
  const inspect = await mc(["inspect", "-f", "{{.Name}} {{.State.Status}}", "ma", "nosuch", "mb"]);
  assert.equal(inspect.code, 125);
  assert.equal(inspect.stdout, "ma exited\nmb exited\n");
  for (const n of ["ma", "mb"]) {
    assert.equal((await mc(["run", "-d", "--name", `${n}2`, "multi:1", "sleep", "100"])).code, 0);
  }
  const kill = await mc(["kill", "-s", "SIGRTMIN+3", "ma2", "nosuch", "mb2"]);
  assert.equal(kill.code, 125, kill.stderr);
  assert.equal(kill.stdout, "ma2\nmb2\n");
  const rm = await mc(["rm", "-f", "ma", "nosuch", "mb", "ma2", "mb2"]);
  assert.equal(rm.code, 125);
  assert.equal(rm.stdout, "ma\nmb\nma2\nmb2\n");
  assert.equal(rm.stderr.trim().split("\n").length, 1);
  const rmi = await mc(["rmi", "nosuch:1", "multi:1"]);
  assert.equal(rmi.code, 125);
  assert.match(rmi.stdout, /^Untagged: multi:1/);
  assert.match(rmi.stderr, /^minicontainer: remove image nosuch:1: no such image\n$/);
});

test('cli: --rootfs "" is a usage error, not the current directory', async () => {
  const r = await mc(["run", "--rootfs", "", "true"], { cwd: "/" });
  assert.equal(r.code, 125);
  assert.match(r.stderr, /--rootfs needs a directory/);
});

test("cli: a NUL byte in an image's config is one sentence naming the image and field", async () => {
  await bbImage("nul:1");
  for (
    const [field, value] of [
      ["Env", ["A=b\0c"]],
      ["Cmd", ["sh\0"]],
      ["Entrypoint", ["/bin/sh", "-c\0"]],
      ["WorkingDir", "/tmp\0x"],
      ["User", "0\0"],
      ["Env", "A=b"],
    ] as const
  ) {
    setConfig("nul:1", { Env: null, Cmd: ["true"], Entrypoint: null, WorkingDir: "", User: "" });
    setConfig("nul:1", { [field]: value });
    const r = await mc(["run", "nul:1"]);
    assert.equal(r.code, 125, `${field}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^minicontainer: image nul:1: its config's ${field} `));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  assert.equal((await mc(["rmi", "nul:1"])).code, 0);
  // Refused when it arrives, too: load registers nothing.
  const dir = await Deno.makeTempDir();
  await sh(
    `mkdir -p ${dir}/l/bin && cp /bin/busybox ${dir}/l/bin/ && tar -C ${dir}/l -czf ${dir}/l.tgz .`,
  );
  const top = await writeImage(dir, [Deno.readFileSync(`${dir}/l.tgz`)], {
    architecture: "amd64",
    config: { Env: ["PATH=/bin\0"], Cmd: ["sh"] },
  });
  writeIndex(dir, { mediaType: "application/vnd.oci.image.manifest.v1+json", ...top });
  const load = await mc(["load", "-i", dir]);
  assert.equal(load.code, 125, load.stderr);
  assert.match(load.stderr, /its config's Env holds a NUL byte/);
  assert.equal((await mc(["images", "-q"])).stdout.includes("\n"), false);
  await Deno.remove(dir, { recursive: true });
});

test("stop: an image stop signal the runtime does not know falls back to SIGTERM, then SIGKILL", async () => {
  await bbImage("sig:1");
  setConfig("sig:1", { StopSignal: "SIGNOPE" });
  assert.equal((await mc(["run", "-d", "--name", "sig", "sig:1", "sleep", "100"])).code, 0);
  const started = Date.now();
  const stop = await mc(["stop", "-t", "1", "sig"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stderr, /stop signal "SIGNOPE" is not one this runtime knows; sending SIGTERM/);
  assert.ok(Date.now() - started < 8000);
  // sleep as PID 1 ignores SIGTERM: SIGKILL after the grace period ended it.
  const code = await mc(["inspect", "-f", "{{.State.ExitCode}}", "sig"]);
  assert.equal(code.stdout, "137\n");
  // systemd's SIGRTMIN+3 is known: sent as is (PID 1 sleep ignores it too, then SIGKILL).
  setConfig("sig:1", { StopSignal: "SIGRTMIN+3" });
  assert.equal((await mc(["run", "-d", "--name", "sig2", "sig:1", "sleep", "100"])).code, 0);
  const stop2 = await mc(["stop", "-t", "1", "sig2"]);
  assert.equal(stop2.code, 0, stop2.stderr);
  assert.equal(stop2.stderr, "");
  assert.equal((await mc(["rm", "sig", "sig2"])).code, 0);
  assert.equal((await mc(["rmi", "sig:1"])).code, 0);
});

test("cli: a reader that goes away ends every printer quietly", async () => {
  await bbImage("pipe:1");
  for (let i = 0; i < 3; i++) {
    assert.equal((await mc(["run", "-d", "--name", `p${i}`, "pipe:1", "true"])).code, 0);
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const cmd of [["ps", "-a"], ["images"], ["inspect", "p0", "p1", "p2"], ["--help"]]) {
    const child = new Deno.Command(`${REPO}minicontainer`, {
      args: cmd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await child.stdout.cancel(); // the reader is gone before the first line is written
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(stderr, "", `${cmd.join(" ")}: ${stderr}`);
    assert.equal(out.code, 141, cmd.join(" "));
  }
  await mc(["rm", "p0", "p1", "p2"]);
  await mc(["rmi", "pipe:1"]);
});

test("logs: a log bigger than a JavaScript string streams, --tail reads from the end, a closed pipe is quiet", async () => {
  await bbImage("logs:1");
  const run = await mc(["run", "-d", "--name", "big", "logs:1", "sh", "-c", "echo first"]);
  assert.equal(run.code, 0, run.stderr);
  await new Promise((r) => setTimeout(r, 500));
  const path = (await mc(["inspect", "-f", "{{.LogPath}}", "big"])).stdout.trim();
  // 600 MB of entries: more than V8's longest string (~512 MiB), which one read of the file hit.
  const line = JSON.stringify({ log: `${"x".repeat(300)}\n`, stream: "stdout", time: "t" }) + "\n";
  const chunk = new TextEncoder().encode(line.repeat(4096));
  const file = Deno.openSync(path, { append: true });
  let lines = 1;
  for (let written = 0; written < 600e6; written += chunk.length) {
    file.writeSync(chunk);
    lines += 4096;
  }
  file.writeSync(
    new TextEncoder().encode(JSON.stringify({ log: "last\n", stream: "stdout" }) + "\n"),
  );
  file.close();
  lines++;
  try {
    const tail = await mc(["logs", "--tail", "2", "big"]);
    assert.equal(tail.code, 0, tail.stderr);
    assert.equal(tail.stdout, `${"x".repeat(300)}\nlast\n`);
    const count = await bash(`${REPO}minicontainer logs big | wc -l; echo "rc=\${PIPESTATUS[0]}"`);
    assert.equal(count.replace(/\s+/g, " ").trim(), `${lines} rc=0`);
    const head = await bash(
      `${REPO}minicontainer logs big 2>&1 | head -1; echo "rc=\${PIPESTATUS[0]}"`,
    );
    assert.equal(head, "first\nrc=141\n");
  } finally {
    await mc(["rm", "big"]);
    await mc(["rmi", "logs:1"]);
  }
});

test("cli: odd arguments to every command are sentences, never an internal error", async () => {
  const cwd = await Deno.makeTempDir();
  const odd = ["", "x".repeat(300), "../../etc", "-", "a:b:c", "@", "sha256:", "UPPER:Case", "-t"];
  // pull would reach a registry, rootfs build would build: both take odd names as their job.
  const commands = COMMAND_NAMES.filter((c) => c !== "pull" && c !== "rootfs");
  try {
    for (const cmd of commands) {
      for (const arg of odd) {
        const r = await mc([cmd, arg], { cwd });
        assert.doesNotMatch(r.stderr, /internal error|^\s+at /m, `${cmd} ${JSON.stringify(arg)}`);
        if (r.code !== 0) {
          assert.ok(
            r.stderr.trim().split("\n").length <= 2,
            `${cmd} ${JSON.stringify(arg)}: ${r.stderr}`,
          );
        }
      }
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
