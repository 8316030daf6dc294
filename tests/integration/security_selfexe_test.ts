// A container must never get the runtime's own binary to run inside it
// (runc's CVE-2019-5736): every process the runtime starts in a container
// is a clone of the runtime until its last execve, so a command, an exec'd
// command or an OCI hook that is /proc/self/exe (or a symlink to it, or a
// script with it as #! interpreter) would execute the host's deno there.
// The probe (selfexe_probe.c) is the rootfs's ELF interpreter, so it runs
// whenever a dynamically linked program is executed in the container, as
// the host's deno is: it prints what /proc/self/exe is. A PROBE line that
// does not name the container's own /bin/dyn means the attacker's code ran
// with the host binary in hand. Also: the OCI hooks' state is sealed, so a
// hook cannot rewrite what the next one reads.
import assert from "node:assert/strict";
import { LAUNCHER, mc, rootOnly, TEST_HOME } from "./helpers.ts";

const DIR = `${TEST_HOME}/selfexe`;
const ROOT = `${DIR}/rootfs`;
const X86 = Deno.build.arch === "x86_64";

let built: Promise<void> | undefined;

/**
 * A rootfs whose ELF interpreter is the probe: /bin/dyn (the host's
 * dynamically linked true), /bin/entry -> /proc/self/exe, /bin/script with
 * `#!/proc/self/exe`, and a static busybox to keep a container running.
 */
function rootfs(): Promise<void> {
  built ??= (async () => {
    Deno.mkdirSync(`${ROOT}/lib64`, { recursive: true });
    Deno.mkdirSync(`${ROOT}/bin`, { recursive: true });
    const src = new URL("./selfexe_probe.c", import.meta.url).pathname;
    const out = await new Deno.Command("cc", {
      args: [
        ...["-O2", "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector"],
        ...["-fno-pie", "-no-pie", "-o", `${ROOT}/lib64/ld-linux-x86-64.so.2`, src],
      ],
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    Deno.copyFileSync(Deno.realPathSync("/bin/true"), `${ROOT}/bin/dyn`);
    Deno.copyFileSync("/bin/busybox", `${ROOT}/bin/busybox`);
    Deno.symlinkSync("/proc/self/exe", `${ROOT}/bin/entry`);
    Deno.writeTextFileSync(`${ROOT}/bin/script`, "#!/proc/self/exe\n");
    Deno.chmodSync(`${ROOT}/bin/script`, 0o755);
  })();
  return built;
}

/** Lines of the probe in `out` other than for /bin/dyn: the runtime's binary ran. */
function foreignProbes(out: string): string[] {
  return out.split("\n").filter((l) =>
    l.startsWith("PROBE") && !l.startsWith("PROBE exe=/bin/dyn")
  );
}

const ATTACKS = ["/proc/self/exe", "/bin/entry", "/bin/script"];

function test(name: string, fn: () => Promise<void>) {
  const t = rootOnly(name);
  Deno.test({
    name: X86 ? t.name : `${name} (skipped: the probe is x86_64)`,
    ignore: t.ignore || !X86,
    fn,
  });
}

test("run: a command that is /proc/self/exe (itself, a symlink, a #! interpreter) never runs the runtime's binary", async () => {
  await rootfs();
  // The probe does run as the interpreter of a dynamic program: the check below means something.
  const control = await mc(["run", "--rm", "--rootfs", ROOT, "/bin/dyn"]);
  assert.equal(control.code, 0, control.stderr);
  assert.match(control.stdout, /^PROBE exe=\/bin\/dyn /m);
  for (const command of ATTACKS) {
    const r = await mc(["run", "--rm", "--rootfs", ROOT, command]);
    assert.deepEqual(foreignProbes(r.stdout), [], `${command}: ${r.stdout}${r.stderr}`);
    assert.notEqual(r.code, 0, command);
  }
});

test("exec: a command that is /proc/self/exe never runs the runtime's binary in the container", async () => {
  await rootfs();
  const run = await mc(["run", "-d", "--rootfs", ROOT, "/bin/busybox", "sleep", "100"]);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  try {
    const control = await mc(["exec", id, "/bin/dyn"]);
    assert.match(control.stdout, /^PROBE exe=\/bin\/dyn /m, control.stderr);
    for (const command of ATTACKS) {
      const r = await mc(["exec", id, command]);
      assert.deepEqual(foreignProbes(r.stdout), [], `${command}: ${r.stdout}${r.stderr}`);
      assert.notEqual(r.code, 0, command);
    }
  } finally {
    await mc(["rm", "-f", id]);
  }
});

/** An OCI bundle on `root` running `args`, with `hooks`. */
async function bundle(name: string, root: string, args: string[], hooks: unknown): Promise<string> {
  const dir = `${DIR}/${name}`;
  Deno.mkdirSync(dir, { recursive: true });
  const made = await mc(["spec", "--bundle", dir]);
  assert.equal(made.code, 0, made.stderr);
  const config = JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
  config.root = { path: root, readonly: false };
  config.process.terminal = false;
  config.process.args = args;
  config.hooks = hooks;
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
  return dir;
}

/** create + start of `id` from `dir` (stdout and stderr in files the container inherits), then delete. */
async function createStart(dir: string, id: string): Promise<{ start: number; out: string }> {
  const out = `${DIR}/${id}.out`;
  const sh = async (...args: string[]) =>
    (await new Deno.Command("sh", {
      args: ["-c", 'o=$1; shift; exec "$@" >>"$o" 2>&1', "sh", out, LAUNCHER, ...args],
      stdin: "null",
    }).output()).code;
  try {
    assert.equal(await sh("create", "--bundle", dir, id), 0, Deno.readTextFileSync(out));
    const start = await sh("start", id);
    // The command (and a failed start's stop) has finished once state says so.
    for (let k = 0; k < 100; k++) {
      const state = await new Deno.Command(LAUNCHER, { args: ["state", id], stderr: "null" })
        .output();
      if (!new TextDecoder().decode(state.stdout).includes('"running"')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return { start, out: Deno.readTextFileSync(out) };
  } finally {
    await mc(["delete", "--force", id]);
  }
}

test("oci: a startContainer hook that is /proc/self/exe never runs the runtime's binary", async () => {
  await rootfs();
  const control = await createStart(
    await bundle("hook-control", ROOT, ["/bin/dyn"], { startContainer: [{ path: "/bin/dyn" }] }),
    "selfexe-control",
  );
  assert.equal(control.start, 0, control.out);
  assert.equal(control.out.match(/^PROBE exe=\/bin\/dyn /gm)?.length, 2, control.out);
  for (const [k, path] of ATTACKS.entries()) {
    const r = await createStart(
      await bundle(`hook${k}`, ROOT, ["/bin/dyn"], { startContainer: [{ path }] }),
      `selfexe-hook${k}`,
    );
    assert.deepEqual(foreignProbes(r.out), [], `${path}: ${r.out}`);
    assert.notEqual(r.start, 0, path);
  }
});

test("oci: a hook cannot rewrite the state the next hook reads (the state memfd is sealed)", async () => {
  await rootfs();
  const forge = "echo FORGED 1<>/proc/self/fd/0; printf '{\"FORGED\":1}' >/proc/self/fd/0";
  const r = await createStart(
    await bundle("forge", ROOT, ["/bin/busybox", "true"], {
      startContainer: [
        { path: "/bin/busybox", args: ["sh", "-c", `${forge}; exit 0`] },
        { path: "/bin/busybox", args: ["sh", "-c", "echo; echo READ $(cat)"] },
      ],
    }),
    "selfexe-forge",
  );
  assert.equal(r.start, 0, r.out);
  const read = r.out.split("\n").find((l) => l.startsWith("READ "));
  assert.ok(read, r.out);
  assert.doesNotMatch(read, /FORGED/);
  assert.match(read, /"status":"created"/);
});

test("run: a seccomp profile denying execveat with an errno still runs the command through the helper; one killing on it is refused", async () => {
  await rootfs();
  const deny = `${DIR}/deny-execveat.json`;
  const rule = (action: string) =>
    JSON.stringify({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["execveat"], action }],
    });
  Deno.writeTextFileSync(deny, rule("SCMP_ACT_ERRNO"));
  const control = await mc([
    "run",
    "--rm",
    "--security-opt",
    `seccomp=${deny}`,
    "--rootfs",
    ROOT,
    "/bin/dyn",
  ]);
  assert.equal(control.code, 0, control.stderr);
  assert.match(control.stdout, /^PROBE exe=\/bin\/dyn /m);
  for (const command of ATTACKS) {
    const r = await mc([
      "run",
      "--rm",
      "--security-opt",
      `seccomp=${deny}`,
      "--rootfs",
      ROOT,
      command,
    ]);
    assert.deepEqual(foreignProbes(r.stdout), [], `${command}: ${r.stdout}${r.stderr}`);
  }
  const kill = `${DIR}/kill-execveat.json`;
  Deno.writeTextFileSync(kill, rule("SCMP_ACT_KILL"));
  const refused = await mc([
    "run",
    "--rm",
    "--security-opt",
    `seccomp=${kill}`,
    "--rootfs",
    ROOT,
    "/bin/dyn",
  ]);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /kills on execveat/);
});
