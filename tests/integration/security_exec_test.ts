// Attacks on the moments a runtime process is inside a container: a
// process of the container watching /proc while `exec` joins it, and
// SIGKILL of the runtime (or supervisor, or exec) that must take the
// container's processes with it on every path.
import assert from "node:assert/strict";
import { containerCgroups, mc, processesWith, rootOnly, spawnMc, waitFor } from "./helpers.ts";

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ ...rootOnly(name), fn });
}

const probeDir = Deno.makeTempDirSync({ prefix: "mc-watch-" });
Deno.chmodSync(probeDir, 0o755);

async function buildWatcher(): Promise<void> {
  const src = new URL("./proc_watch.c", import.meta.url).pathname;
  const out = await new Deno.Command("cc", {
    args: ["-static", "-O2", "-o", `${probeDir}/watch`, src],
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

/** Whether pid is gone or a zombie (this machine's pid 1 may not reap). */
function dead(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

function parentOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** The one host process whose command line is `cmdline`, once it exists. */
async function processOf(cmdline: string): Promise<number> {
  let found: number[] = [];
  await waitFor(() => (found = processesWith(cmdline)).length === 1, 15_000, cmdline);
  return found[0];
}

/** The name of the container cgroup process `pid` is in (minicontainer-ID), if any. */
function cgroupOf(pid: number): string | undefined {
  return /minicontainer-[0-9a-f]+/.exec(Deno.readTextFileSync(`/proc/${pid}/cgroup`))?.[0];
}

/**
 * Removes the cgroup directories named `name`, which a killed runtime could
 * not (they are empty once its processes died).
 */
async function removeCgroups(name: string | undefined): Promise<void> {
  if (!name) return;
  for (const dir of containerCgroups().filter((c) => c.endsWith(`/${name}`))) {
    await waitFor(
      () => {
        try {
          Deno.removeSync(dir);
          return true;
        } catch (e) {
          return e instanceof Deno.errors.NotFound;
        }
      },
      5_000,
      `removal of ${dir}`,
    );
  }
}

let unique = 0;
/** A command line no other test has: `sleep 1000.N`. */
function sleeper(): string[] {
  return ["sleep", `1000.${Deno.pid}${unique++}`];
}

test("security exec: a process watching /proc never reads the exec caller's environment, the runtime's files or its binary (30 execs)", async () => {
  await buildWatcher();
  const marker = `MC_SECRET_${crypto.randomUUID()}`;
  const deno = Deno.statSync(Deno.realPathSync(Deno.execPath()));
  const execs = 30;
  const run = await mc([
    "run",
    "-d",
    "-v",
    `${probeDir}:/probe:ro`,
    "/probe/watch",
    marker,
    `${deno.dev}:${deno.ino}`,
    String(execs),
    "120",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  try {
    for (let k = 0; k < execs; k++) {
      // sleep is searched along PATH: several execve tries, a wider window.
      const r = await mc(["exec", id, "sleep", "0.1"], { env: { MC_TEST_SECRET: marker } });
      assert.equal(r.code, 0, `exec ${k}: ${r.stderr}`);
    }
    // The watcher stops after `execs` new processes and prints its summary.
    let logs = await mc(["logs", id]);
    for (let k = 0; k < 300 && !logs.stdout.includes(" leaks"); k++) {
      await new Promise((r) => setTimeout(r, 100));
      logs = await mc(["logs", id]);
    }
    const summary = /checked (\d+) new processes, read (\d+) environments, \d+ scans, (\d+) leaks/
      .exec(logs.stdout);
    assert.ok(summary, logs.stdout + logs.stderr);
    const [checked, environments, leaks] = summary.slice(1).map(Number);
    assert.equal(leaks, 0, logs.stdout);
    assert.ok(!logs.stdout.includes(marker));
    // The watcher did reach the exec'd processes: it read their
    // environments once they were the command.
    assert.ok(checked >= execs, `saw ${checked} of ${execs} execs`);
    assert.ok(environments >= execs / 2, `read only ${environments} environments`);
  } finally {
    await mc(["rm", "-f", id]);
  }
});

/** SIGKILL, unless it has exited already. */
function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch { /* already exited */ }
}

/**
 * Starts `run FLAGS sleep ...` in the foreground, SIGKILLs the runtime once
 * the command runs, and waits for the command to die with it.
 */
async function killRuntimeOf(flags: string[]): Promise<void> {
  const command = sleeper();
  const runtime = spawnMc(["run", ...flags, ...command]);
  let pid = 0;
  let cgroup: string | undefined;
  try {
    pid = await processOf(command.join(" "));
    cgroup = cgroupOf(pid);
    runtime.kill("SIGKILL");
    await waitFor(() => dead(pid), 10_000, `the end of ${command.join(" ")} (run ${flags})`);
  } finally {
    kill(runtime);
    // A survivor holds the runtime's stdout: end it, or output() never ends.
    if (pid && !dead(pid)) Deno.kill(pid, "SIGKILL");
    await runtime.output();
    await removeCgroups(cgroup);
  }
}

test("security exec: kill -9 of `run -u 1000` ends the container", async () => {
  await killRuntimeOf(["-u", "1000"]);
});

test("security exec: kill -9 of `run -u nobody` ends the container", async () => {
  await killRuntimeOf(["-u", "nobody"]);
});

test("security exec: kill -9 of `run --userns remap` ends the container", async () => {
  await killRuntimeOf(["--userns", "remap"]);
});

test("security exec: kill -9 of `run --init` (with a user and a user namespace) ends the container", async () => {
  await killRuntimeOf(["--init"]);
  await killRuntimeOf(["--init", "-u", "1000", "--userns", "remap"]);
});

test("security exec: kill -9 of a detached container's monitor ends the container", async () => {
  const command = sleeper();
  const run = await mc(["run", "-d", "-u", "1000", ...command]);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  let cgroup: string | undefined;
  try {
    const pid = await processOf(command.join(" "));
    cgroup = cgroupOf(pid);
    const monitor = parentOf(pid);
    assert.match(Deno.readTextFileSync(`/proc/${monitor}/cmdline`), /mcmonitor/);
    Deno.kill(monitor, "SIGKILL");
    await waitFor(() => dead(pid), 10_000, "the end of the detached container");
  } finally {
    await mc(["rm", "-f", id]);
    await removeCgroups(cgroup);
  }
});

test("security exec: kill -9 of `exec` ends the exec'd command and its waiter", async () => {
  for (const [runFlags, execFlags] of [[[], []], [["--userns", "remap"], ["-u", "1000"]]]) {
    const run = await mc(["run", "-d", ...runFlags, ...sleeper()]);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    try {
      const command = sleeper();
      const exec = spawnMc(["exec", ...execFlags, id, ...command]);
      let pid = 0;
      try {
        pid = await processOf(command.join(" "));
        const waiter = parentOf(pid);
        assert.notEqual(waiter, exec.pid, "the exec'd command's parent is the waiter in between");
        exec.kill("SIGKILL");
        await waitFor(() => dead(pid) && dead(waiter), 10_000, `the end of exec ${execFlags}`);
      } finally {
        kill(exec);
        if (pid && !dead(pid)) Deno.kill(pid, "SIGKILL");
        await exec.output();
      }
    } finally {
      await mc(["rm", "-f", id]);
    }
  }
});

test("security exec: the command cannot be the runtime's own binary (/proc/self/exe, #!/proc/self/exe)", async () => {
  // runc's CVE-2019-5736 door: the last execve of the joining process runs
  // /proc/self/exe, i.e. the host's runtime binary, inside the container,
  // where its processes can then open it. A guard, not a defence of ours:
  // on the kernels tried the link does not resolve (ENOENT) for the
  // runtime's child in the container's mount namespace, though it does for
  // a plain pivot_root'ed process; runc's answer, a sealed copy of its
  // binary to run from, is not done here.
  const ran = await mc(["run", "/proc/self/exe", "--version"]);
  assert.equal(ran.code, 127, ran.stdout + ran.stderr);
  assert.doesNotMatch(ran.stdout, /deno/);
  const run = await mc(["run", "-d", "sleep", "100"]);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  try {
    const script = await mc([
      "exec",
      id,
      "sh",
      "-c",
      "printf '#!/proc/self/exe\\n' >/tmp/x; chmod +x /tmp/x",
    ]);
    assert.equal(script.code, 0, script.stderr);
    for (const command of [["/proc/self/exe", "--version"], ["/tmp/x", "--version"]]) {
      const r = await mc(["exec", id, ...command]);
      assert.equal(r.code, 127, `${command}: ${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout, /deno/);
    }
  } finally {
    await mc(["rm", "-f", id]);
  }
});
