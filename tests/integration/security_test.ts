// Capabilities, seccomp, no_new_privs, masked paths, users and escapes, for real.
import assert from "node:assert/strict";
import { IS_ROOT, mc, rootOnly } from "./helpers.ts";

const probeDir = Deno.makeTempDirSync({ prefix: "mc-probe-" });
Deno.chmodSync(probeDir, 0o755);
let built = false;

async function probe(...args: string[]): Promise<string> {
  if (!built) {
    const src = new URL("./probe.c", import.meta.url).pathname;
    const out = await new Deno.Command("cc", {
      args: ["-static", "-O2", "-o", `${probeDir}/probe`, src],
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    built = true;
  }
  const flags = args.slice(0, args.indexOf("--"));
  const rest = args.slice(args.indexOf("--") + 1);
  const r = await mc(["run", "-v", `${probeDir}:/probe:ro`, ...flags, "/probe/probe", ...rest]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function caps(out: string): Record<string, string> {
  return Object.fromEntries(
    out.split("\n").filter((l) => l.startsWith("Cap")).map((l) =>
      l.split(":\t") as [string, string]
    ),
  );
}

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ ...rootOnly(name), fn });
}

test("security: the default capability sets are docker's fourteen, nothing inheritable or ambient", async () => {
  const r = await mc(["run", "grep", "Cap", "/proc/self/status"]);
  assert.deepEqual(caps(r.stdout), {
    CapInh: "0000000000000000",
    CapPrm: "00000000a80425fb",
    CapEff: "00000000a80425fb",
    CapBnd: "00000000a80425fb",
    CapAmb: "0000000000000000",
  });
});

test("security: --cap-drop ALL, --cap-add, --privileged", async () => {
  const none = caps(
    (await mc(["run", "--cap-drop", "ALL", "grep", "Cap", "/proc/self/status"])).stdout,
  );
  assert.equal(none.CapEff, "0000000000000000");
  assert.equal(none.CapBnd, "0000000000000000");
  const plus = caps(
    (await mc([
      "run",
      "--cap-add",
      "sys_admin",
      "--cap-drop",
      "CAP_NET_RAW",
      "grep",
      "Cap",
      "/proc/self/status",
    ])).stdout,
  );
  // + CAP_SYS_ADMIN (21), - CAP_NET_RAW (13)
  const expected = (0xa80425fbn | (1n << 21n)) & ~(1n << 13n);
  assert.equal(plus.CapEff, expected.toString(16).padStart(16, "0"));
  const hostPrm =
    Deno.readTextFileSync("/proc/self/status").split("\n").find((l) => l.startsWith("CapPrm:"))!
      .split(":\t")[1];
  const priv = caps((await mc(["run", "--privileged", "grep", "Cap", "/proc/self/status"])).stdout);
  assert.equal(priv.CapEff, hostPrm, "privileged keeps every capability the runtime has");
});

test("security: no_new_privs and seccomp on by default, lifted by --security-opt", async () => {
  const r = await mc(["run", "grep", "-E", "NoNewPrivs|Seccomp:", "/proc/self/status"]);
  assert.match(r.stdout, /NoNewPrivs:\t1/);
  assert.match(r.stdout, /Seccomp:\t2/);
  const off = await mc([
    "run",
    "--security-opt",
    "no-new-privileges=false",
    "--security-opt",
    "seccomp=unconfined",
    "grep",
    "-E",
    "NoNewPrivs|Seccomp:",
    "/proc/self/status",
  ]);
  assert.match(off.stdout, /NoNewPrivs:\t0/);
  assert.match(off.stdout, /Seccomp:\t0/);
});

test("security: mount, unshare -U, keyctl, open_by_handle_at and TIOCSTI fail with EPERM", async () => {
  for (const mode of ["mount", "unshare-user", "keyctl", "open-by-handle", "tiocsti"]) {
    assert.equal(await probe("--", mode), "EPERM", mode);
  }
  // With every capability but the filter still on, mount is still refused by seccomp... unless SYS_ADMIN opens it, as in docker.
  assert.equal(await probe("--cap-add", "SYS_ADMIN", "--", "mount"), "ok");
});

test("security: a setuid-root binary gains nothing under no_new_privs", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mc-suid-" });
  try {
    await probe("--", "euid"); // builds the probe
    Deno.copyFileSync(`${probeDir}/probe`, `${dir}/suid`);
    Deno.chmodSync(dir, 0o755);
    Deno.chmodSync(`${dir}/suid`, 0o4755);
    const run = (extra: string[]) =>
      mc(["run", "-v", `${dir}:/s:ro`, "--user", "1000:1000", ...extra, "/s/suid", "euid"]);
    assert.equal((await run([])).stdout.trim(), "1000");
    assert.equal((await run(["--security-opt", "no-new-privileges=false"])).stdout.trim(), "0");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

test("security: masked paths read empty, read-only ones refuse writes", async () => {
  const r = await mc([
    "run",
    "sh",
    "-c",
    "cat /proc/keys /proc/timer_list | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/hostname && echo wrote || echo refused",
  ]);
  assert.deepEqual(r.stdout.trim().split("\n"), ["0", "0", "refused"]);
  assert.match(r.stderr, /Read-only file system/);
  const priv = await mc(["run", "--privileged", "sh", "-c", "ls /sys/firmware | wc -l"]);
  assert.notEqual(priv.stdout.trim(), "0", "--privileged does not mask");
  assert.notEqual(await probe("--", "write", "/proc/sysrq-trigger"), "ok");
});

test("security: --read-only refuses writes to / while /tmp, /run and /dev work", async () => {
  const r = await mc([
    "run",
    "--read-only",
    "sh",
    "-c",
    "touch /x 2>&1; touch /tmp/a /run/b /dev/shm/c && echo writable",
  ]);
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, /^writable$/m);
});

test("security: --user and --group-add, by id and by name", async () => {
  assert.equal(
    (await mc(["run", "--user", "1000:1000", "id"])).stdout.trim(),
    "uid=1000 gid=1000",
  );
  const byName = await mc([
    "run",
    "-u",
    "nobody",
    "--group-add",
    "tty",
    "sh",
    "-c",
    "id; echo $HOME",
  ]);
  assert.equal(
    byName.stdout,
    "uid=65534(nobody) gid=65534(nogroup) groups=5(tty)\n/nonexistent\n",
  );
});

test("security: the classic chroot breakout stays inside the container", async () => {
  const marker = Deno.makeTempFileSync({ prefix: "mc-host-only-" });
  try {
    assert.equal(await probe("--", "chroot-escape", marker), "contained");
  } finally {
    Deno.removeSync(marker);
  }
});

test("security: a block node made with mknod for a host device cannot be opened (devices cgroup)", async () => {
  // loop0 (7:0): a block device this host lets root open, not one a container is given.
  assert.equal(await probe("--", "read-block", "7", "0"), "EPERM");
  assert.equal(await probe("--privileged", "--", "read-block", "7", "0"), "ok");
  const r = await mc([
    "run",
    "--device",
    "/dev/loop0:/dev/xloop:r",
    "sh",
    "-c",
    "head -c 1 /dev/xloop | wc -c; echo x > /dev/xloop",
  ]);
  assert.equal(r.stdout.trim(), "0", "read allowed by --device ...:r");
  assert.match(r.stderr, /Operation not permitted/, "write refused: only r was granted");
});

test("security: bad input is one sentence and exit 125", async () => {
  const bad = Deno.makeTempFileSync({ suffix: ".json" });
  Deno.writeTextFileSync(bad, '{"defaultAction": "SCMP_ACT_BOGUS"}');
  try {
    const cases: [string[], RegExp][] = [
      [["--cap-add", "CAP_FLY"], /capabilit/i],
      [["--security-opt", `seccomp=${bad}`], /SCMP_ACT_BOGUS/],
      [["--security-opt", "seccomp=/nonexistent.json"], /nonexistent\.json/],
      [["--user", "ghost"], /no user named "ghost"/],
      [["--user", "0:ghosts"], /no group named "ghosts"/],
      [["--security-opt", "apparmor=x"], /not supported/],
    ];
    for (const [flags, message] of cases) {
      const r = await mc(["run", ...flags, "true"]);
      assert.equal(r.code, 125, flags.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, message);
    }
  } finally {
    Deno.removeSync(bad);
  }
});

test("security: --userns remap maps container root to an unprivileged host range", async () => {
  const r = await mc([
    "run",
    "--userns",
    "remap",
    "sh",
    "-c",
    "cat /proc/self/uid_map; id -u; grep CapEff /proc/self/status",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [map, uid] = r.stdout.trim().split("\n");
  assert.deepEqual(map.trim().split(/\s+/), ["0", "100000", "65536"]);
  assert.equal(uid, "0");
});

addEventListener("unload", () => {
  if (IS_ROOT) Deno.removeSync(probeDir, { recursive: true });
});
