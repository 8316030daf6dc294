// Attacks on what a container cannot do: read host files through export,
// open the host's console, use io_uring, read the caller's stdin without -i.
import assert from "node:assert/strict";
import { hostMounts, IS_ROOT, mc, rootOnly, sh, waitFor } from "./helpers.ts";

const probeDir = Deno.makeTempDirSync({ prefix: "mc-misc-probe-" });
Deno.chmodSync(probeDir, 0o755);
let built = false;

/** The static probe (security_misc_probe.c), built once, mounted read-only at /probe. */
async function buildProbe(): Promise<string[]> {
  if (!built) {
    const src = new URL("./security_misc_probe.c", import.meta.url).pathname;
    const out = await new Deno.Command("cc", {
      args: ["-static", "-O2", "-o", `${probeDir}/probe`, src],
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    built = true;
  }
  return ["-v", `${probeDir}:/probe:ro`];
}

/** Runs the probe in a new container with `flags`; its answer. */
async function probe(flags: string[], ...args: string[]): Promise<string> {
  const r = await mc(["run", ...await buildProbe(), ...flags, "/probe/probe", ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ ...rootOnly(name), fn });
}

/** Names and type flags of a tar's entries (ustar names; PAX path records win). */
function tarEntries(bytes: Uint8Array): { name: string; type: string }[] {
  const text = (from: number, len: number) =>
    new TextDecoder("latin1").decode(bytes.subarray(from, from + len)).replace(/\0.*$/s, "");
  const out: { name: string; type: string }[] = [];
  let paxPath: string | undefined;
  for (let at = 0; at + 512 <= bytes.length;) {
    const name = text(at, 100);
    if (name === "") break;
    const type = text(at + 156, 1);
    const size = parseInt(text(at + 124, 12).trim() || "0", 8);
    const body = bytes.subarray(at + 512, at + 512 + size);
    if (type === "x") paxPath = /\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(body))?.[1];
    else {
      out.push({ name: paxPath ?? name, type });
      paxPath = undefined;
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

test("export: a symlink swapped in during the walk never leads to a host file or directory", async () => {
  // The host's secret: a file and a directory whose entry names carry a token.
  const token = `mc-secret-${crypto.randomUUID()}`;
  const secrets = Deno.makeTempDirSync({ prefix: "mc-export-secret-" });
  Deno.writeTextFileSync(`${secrets}/secret`, `${token}\n`);
  Deno.mkdirSync(`${secrets}/dir`);
  Deno.writeTextFileSync(`${secrets}/dir/${token}`, "");
  const name = `race${Deno.pid}`;
  try {
    // Two probes swap, as fast as they can: a plain file with an absolute
    // symlink to the secret file, and a directory with one to the secret
    // directory (RENAME_EXCHANGE: both names always exist).
    const script = [
      "mkdir /race /race/d",
      "echo decoy > /race/f",
      "touch /race/d/inner",
      `ln -s ${secrets}/secret /race/l`,
      `ln -s ${secrets}/dir /race/dl`,
      "/probe/probe exchange /race/f /race/l &",
      "/probe/probe exchange /race/d /race/dl &",
      "wait",
    ].join("\n");
    const started = await mc([
      "run",
      "-d",
      "--name",
      name,
      ...await buildProbe(),
      "sh",
      "-c",
      script,
    ]);
    assert.equal(started.code, 0, started.stderr);
    await waitFor(
      () => {
        const log = new TextDecoder().decode(
          new Deno.Command(
            "sh",
            {
              args: [
                "-c",
                `${new URL("../../minicontainer", import.meta.url).pathname} logs ${name}`,
              ],
            },
          ).outputSync().stdout,
        );
        return (log.match(/swapping/g) ?? []).length === 2;
      },
      15_000,
      "the two swapping probes",
    );

    const seen = new Set<string>();
    for (let attempt = 0; attempt < 30; attempt++) {
      const tar = `${secrets}/../${name}-${attempt}.tar`;
      const r = await mc(["export", "-o", tar, name]);
      assert.equal(r.code, 0, r.stderr);
      const bytes = Deno.readFileSync(tar);
      Deno.removeSync(tar);
      const raw = new TextDecoder("latin1").decode(bytes);
      assert.ok(!raw.includes(token), `attempt ${attempt}: the host's secret is in the tar`);
      const entries = tarEntries(bytes);
      for (const e of entries.filter((e) => /^race\/(f|l|d\/inner|dl\/inner)$/.test(e.name))) {
        seen.add(`${e.name}:${e.type}`);
      }
    }
    // The walk met the names in both states (the race really ran under it)
    // and still went into the real directory.
    const states = [...seen].join(" ");
    assert.ok(seen.has("race/f:0") && seen.has("race/f:2"), states);
    assert.ok(seen.has("race/d/inner:0") || seen.has("race/dl/inner:0"), states);
  } finally {
    await mc(["rm", "-f", name]);
    Deno.removeSync(secrets, { recursive: true });
  }
});

/** Cgroup directories named `name`, anywhere in the first levels of any hierarchy. */
function cgroupsNamed(name: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 6) return;
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (!e.isDirectory) continue;
        if (e.name === name) found.push(`${dir}/${e.name}`);
        else walk(`${dir}/${e.name}`, depth + 1);
      }
    } catch { /* gone meanwhile */ }
  };
  walk("/sys/fs/cgroup", 0);
  return found;
}

/** Waits until the detached container `name` has exited. */
async function exited(name: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    const r = await mc(["inspect", name]);
    if (/"Status":\s*"exited"/.test(r.stdout)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not exit`);
}

test("export: an exited container's files when they outlive it; an overlay's kept layer through a read-only view", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mc-export-exited-" });
  const name = `exited${Deno.pid}`;
  try {
    // A --rootfs directory: the container's own files, still there after it exits.
    Deno.mkdirSync(`${dir}/root/bin`, { recursive: true });
    Deno.copyFileSync("/bin/busybox", `${dir}/root/bin/busybox`);
    Deno.symlinkSync("busybox", `${dir}/root/bin/sh`);
    const r = await mc([
      "run",
      "-d",
      "--name",
      name,
      "--rootfs",
      `${dir}/root`,
      "/bin/sh",
      "-c",
      "echo made > /made",
    ]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(() => {
      try {
        return Deno.readTextFileSync(`${dir}/root/made`) === "made\n";
      } catch {
        return false;
      }
    });
    await exited(name);
    const ex = await mc(["export", "-o", `${dir}/out.tar`, name]);
    assert.equal(ex.code, 0, ex.stderr);
    const names = tarEntries(Deno.readFileSync(`${dir}/out.tar`)).map((e) => e.name);
    assert.ok(names.includes("made") && names.includes("bin/sh"), names.join(" "));
    await mc(["rm", name]);

    // The default rootfs: an overlay whose writable layer the container
    // keeps until rm, read through a read-only view of its layers.
    assert.equal((await mc(["run", "-d", "--name", name, "sh", "-c", "echo y > /made2"])).code, 0);
    await exited(name);
    const kept = await mc(["export", "-o", `${dir}/kept.tar`, name]);
    assert.equal(kept.code, 0, kept.stderr);
    const keptNames = tarEntries(Deno.readFileSync(`${dir}/kept.tar`)).map((e) => e.name);
    assert.ok(keptNames.includes("made2") && keptNames.includes("bin/sh"), keptNames.join(" "));
    assert.ok(
      !hostMounts().some((l) => l.includes("minicontainer-view")),
      "the view stayed mounted",
    );
  } finally {
    await mc(["rm", "-f", name]);
    Deno.removeSync(dir, { recursive: true });
  }
});

test("devices: a host console node made with mknod cannot be opened; runc's defaults can", async () => {
  assert.equal(await probe([], "mknod-open", "/dev/mc-console", "5", "1"), "EPERM");
  assert.equal(await probe([], "mknod-open", "/dev/mc-tty1", "4", "1"), "EPERM");
  // runc's AllowedDevices: opening is allowed by the cgroup (tty has no
  // controlling terminal here: ENXIO, the driver's answer, not the cgroup's).
  for (
    const [major, minor, want] of [
      [1, 3, "ok"],
      [1, 5, "ok"],
      [1, 7, "ok"],
      [1, 8, "ok"],
      [1, 9, "ok"],
      [5, 0, "ENXIO"],
      [5, 2, "ok"],
      [10, 200, "ok|ENODEV"], // ENODEV: a kernel without tun
    ]
  ) {
    assert.match(
      await probe([], "mknod-open", `/dev/mc-${major}-${minor}`, String(major), String(minor)),
      new RegExp(`^(${want})$`),
      `c ${major}:${minor}`,
    );
  }
  // The container's own ptys (136:*) through its devpts, with -t.
  const r = await mc(["run", "-t", "sh", "-c", 'echo hi > "$(tty)" && echo pty-ok']);
  assert.match(r.stdout, /pty-ok/, r.stderr);
});

test("seccomp: io_uring_setup is refused by default (EPERM, docker's), allowed unconfined", async () => {
  assert.equal(await probe([], "io_uring_setup"), "EPERM");
  assert.equal(await probe(["--security-opt", "seccomp=unconfined"], "io_uring_setup"), "ok");
});

test("stdin: without -i the container reads /dev/null; with -i the caller's", async () => {
  const r = await mc(["run", "cat"], { stdin: "hi\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "");
  const i = await mc(["run", "-i", "cat"], { stdin: "hi\n" });
  assert.equal(i.stdout, "hi\n");
  // The null device (1:3), the host's, opened before the container's root was entered.
  const dev = await mc(["run", "stat", "-L", "-c", "%F %t:%T", "/proc/self/fd/0"], {
    stdin: "x\n",
  });
  assert.equal(dev.stdout.trim(), "character special file 1:3", dev.stderr);
});

test("stdin: a while-read loop around run is not starved", async () => {
  const launcher = new URL("../../minicontainer", import.meta.url).pathname;
  const out = await sh(
    `printf 'a\\nb\\nc\\n' | while read x; do ${launcher} run sh -c 'cat >/dev/null'; echo "got $x"; done`,
  );
  assert.equal(out, "got a\ngot b\ngot c\n");
});

test("stdin: exec without -i reads /dev/null, with -i the caller's", async () => {
  const name = `stdin${Deno.pid}`;
  try {
    assert.equal((await mc(["run", "-d", "--name", name, "sleep", "300"])).code, 0);
    const r = await mc(["exec", name, "cat"], { stdin: "hi\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal((await mc(["exec", "-i", name, "cat"], { stdin: "hi\n" })).stdout, "hi\n");
  } finally {
    await mc(["rm", "-f", name]);
  }
});

test("flags: ids and sizes past their range are one sentence, exit 125, nothing created", async () => {
  // Other test processes make cgroups meanwhile: a parent of our own shows ours.
  const parent = `mc-flags-${Deno.pid}`;
  const state = Deno.env.get("MINICONTAINER_ROOT")!;
  const containers = () => {
    try {
      return [...Deno.readDirSync(state)].length;
    } catch {
      return 0;
    }
  };
  const count = containers();
  for (
    const flags of [
      ["--userns", "1:99999999999"],
      ["--userns", "4294967295:1"],
      ["-u", "4294967296"],
      ["--memory", "0.5"],
      ["--cpus", "0.0000000001"],
      ["--pids-limit", "4294967296"],
      ["--cpu-shares", "262145"],
      ["--blkio-weight", "4294967306"],
      ["--cpuset-cpus", "0-4294967296"],
      ["--ulimit", "nofile=18446744073709551616"],
    ]
  ) {
    const r = await mc(["run", "--cgroup-parent", parent, ...flags, "true"]);
    assert.equal(r.code, 125, `${flags.join(" ")}: ${r.stderr}`);
    // (The first run of a test process may build the default rootfs: a cache, said so.)
    const said = r.stderr.replace(/^minicontainer: rootfs: building .*\n/m, "");
    assert.match(said, /^minicontainer: [^\n]+\n$/, `${flags.join(" ")}: ${r.stderr}`);
  }
  assert.deepEqual(cgroupsNamed(parent), [], "no cgroup was made");
  assert.equal(containers(), count);
});

Deno.test({
  name: "security misc: clean up the probe",
  ignore: !IS_ROOT,
  fn: () => Deno.removeSync(probeDir, { recursive: true }),
});
