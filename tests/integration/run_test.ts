// `minicontainer run` against the real kernel, through the launcher.
import assert from "node:assert/strict";
import {
  hostMounts,
  mc,
  mcAsNobody,
  nobodyHome,
  processesWith,
  REPO,
  rootOnly,
  spawnMc,
  waitFor,
} from "./helpers.ts";

/** Runs a test body and asserts the host's mount table is the same afterwards. */
function isolated(name: string, body: () => Promise<void>) {
  Deno.test({
    ...rootOnly(name),
    async fn() {
      const before = hostMounts();
      await body();
      assert.deepEqual(hostMounts(), before, "the host mount table changed");
    },
  });
}

isolated("run: the command is PID 1 and ps shows only the container's processes", async () => {
  const r = await mc(["run", "sh", "-c", "echo pid=$$; ps -o pid,comm"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^pid=1$/m);
  const pids = r.stdout.split("\n").slice(2).filter(Boolean).map((l) =>
    Number(l.trim().split(/\s+/)[0])
  );
  assert.ok(pids.length >= 1 && pids.length <= 2, r.stdout);
  assert.ok(pids.every((p) => p < 10), r.stdout);
});

isolated("run: hostname is the container's own; the host's is untouched", async () => {
  const host = Deno.hostname();
  const r = await mc(["run", "--hostname", "box-one", "hostname"]);
  assert.equal(r.stdout.trim(), "box-one");
  assert.equal(Deno.hostname(), host);
  const generated = await mc(["run", "hostname"]);
  assert.match(generated.stdout.trim(), /^[0-9a-f]{12}$/);
});

isolated("run: host paths are invisible; the root is the rootfs with a private /proc", async () => {
  const marker = `${REPO}tests/integration/run_test.ts`;
  const r = await mc([
    "run",
    "sh",
    "-c",
    `test -e ${marker} && echo visible || echo invisible; cat /proc/self/mountinfo`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^invisible$/m);
  const mountPoints = r.stdout.split("\n").slice(1).map((l) => l.split(" ")[4]).filter(Boolean);
  assert.ok(
    !mountPoints.some((p) => p.startsWith("/work") || p.startsWith("/home")),
    mountPoints.join(" "),
  );
  assert.match(r.stdout, / \/proc rw,nosuid,nodev,noexec/);
  assert.match(r.stdout, / \/sys ro,/);
});

isolated("run: /dev has the basic nodes, a private devpts, and a writable /tmp", async () => {
  const r = await mc([
    "run",
    "sh",
    "-c",
    "echo x > /dev/null && head -c 4 /dev/zero | wc -c && ls /dev && readlink /dev/ptmx && touch /tmp/ok && echo tmp-ok; touch /sys/x 2>/dev/null || echo sys-ro",
  ]);
  assert.equal(r.code, 0, r.stderr);
  for (
    const n of [
      "null",
      "zero",
      "full",
      "random",
      "urandom",
      "tty",
      "pts",
      "shm",
      "fd",
      "stdin",
      "stdout",
      "stderr",
    ]
  ) {
    assert.match(r.stdout, new RegExp(`^${n}$`, "m"), n);
  }
  assert.match(r.stdout, /^pts\/ptmx$/m);
  assert.match(r.stdout, /^tmp-ok$/m);
  assert.match(r.stdout, /^sys-ro$/m);
});

isolated("run: exit statuses 0, 1, 42, 126, 127", async () => {
  assert.equal((await mc(["run", "true"])).code, 0);
  assert.equal((await mc(["run", "false"])).code, 1);
  assert.equal((await mc(["run", "sh", "-c", "exit 42"])).code, 42);
  const notExec = await mc(["run", "/etc/passwd"]);
  assert.equal(notExec.code, 126);
  assert.match(notExec.stderr, /exec "\/etc\/passwd": Permission denied/);
  const missing = await mc(["run", "no-such-command"]);
  assert.equal(missing.code, 127);
  assert.equal(
    missing.stderr.trim(),
    'minicontainer: exec "no-such-command": executable file not found in $PATH',
  );
});

isolated("run: commands are looked up on the container's PATH", async () => {
  const r = await mc(["run", "-e", "PATH=/nowhere", "ls"]);
  assert.equal(r.code, 127);
  assert.equal((await mc(["run", "-e", "PATH=/nowhere:/bin", "ls", "/"])).code, 0);
});

isolated("run: a command killed by SIGKILL gives 137 and leaves nothing", async () => {
  const marker = "sleep 7301";
  const p = spawnMc(["run", "sh", "-c", `${marker}; echo after`]);
  await waitFor(() => processesWith(marker).length > 0, 10_000, "the container to start");
  for (const pid of processesWith(marker)) Deno.kill(pid, "SIGKILL");
  const out = await p.output();
  assert.equal(out.code, 0, "sh survives its child's SIGKILL");
  assert.equal(new TextDecoder().decode(out.stdout), "after\n");
  const p2 = spawnMc(["run", "sleep", "7302"]);
  await waitFor(() => processesWith("sleep 7302").length > 0, 10_000, "the container to start");
  for (const pid of processesWith("sleep 7302")) Deno.kill(pid, "SIGKILL");
  assert.equal((await p2.output()).code, 137);
  assert.deepEqual([...processesWith("sleep 7301"), ...processesWith("sleep 7302")], []);
});

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  isolated(
    `run: ${sig} to the runtime reaches the container (143/130 with --init), nothing left`,
    async () => {
      const marker = sig === "SIGTERM" ? "sleep 7303" : "sleep 7304";
      const p = spawnMc(["run", "--init", ...marker.split(" ")]);
      await waitFor(() => processesWith(marker).length > 0, 10_000, "the container to start");
      p.kill(sig);
      const out = await p.output();
      assert.equal(out.code, sig === "SIGTERM" ? 143 : 130);
      assert.deepEqual(processesWith(marker), []);
    },
  );
}

isolated(
  "run: a PID 1 with a handler gets forwarded signals (SIGTERM, SIGHUP, SIGUSR1)",
  async () => {
    const p = spawnMc([
      "run",
      "sh",
      "-c",
      'trap "echo got-usr1" USR1; trap "echo got-hup" HUP; trap "exit 143" TERM; echo ready; while true; do sleep 0.05; done',
    ]);
    const reader = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const until = async (text: string) => {
      while (!seen.includes(text)) {
        const { value, done } = await reader.read();
        if (done) {
          // What the runtime said, for a failure that is not this test's.
          const stderr = await new Response(p.stderr).text();
          const { code } = await p.status;
          throw new Error(`stdout ended before "${text}" (exit ${code}): ${seen} ${stderr}`);
        }
        seen += value;
      }
    };
    await until("ready");
    p.kill("SIGUSR1");
    await until("got-usr1");
    p.kill("SIGHUP");
    await until("got-hup");
    p.kill("SIGTERM");
    assert.equal((await p.status).code, 143);
    reader.releaseLock();
    await p.stderr.cancel();
  },
);

isolated("run: --init reaps an orphaned zombie that a plain PID 1 leaves", async () => {
  const script =
    'sh -c "sleep 0.1 &"; (sleep 1; grep -l zombie /proc/[0-9]*/status | wc -l) & exec sleep 2';
  const plain = await mc(["run", "sh", "-c", script]);
  assert.equal(plain.stdout.trim(), "1", "a plain sleep as PID 1 leaves the zombie");
  const init = await mc(["run", "--init", "sh", "-c", script]);
  assert.equal(init.stdout.trim(), "0", "init reaps it");
  assert.equal(init.code, 0);
});

isolated("run: read-only and read-write volumes", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/in.txt`, "from host");
    const rw = await mc([
      "run",
      "-v",
      `${dir}:/data`,
      "sh",
      "-c",
      "cat /data/in.txt; echo from-container > /data/out.txt",
    ]);
    assert.equal(rw.code, 0, rw.stderr);
    assert.equal(rw.stdout, "from host");
    assert.equal(Deno.readTextFileSync(`${dir}/out.txt`), "from-container\n");
    const ro = await mc(["run", "-v", `${dir}:/data:ro`, "sh", "-c", "echo x > /data/new.txt"]);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    assert.throws(() => Deno.statSync(`${dir}/new.txt`));
    const file = await mc(["run", "-v", `${dir}/in.txt:/etc/in.txt:ro`, "cat", "/etc/in.txt"]);
    assert.equal(file.stdout, "from host");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

isolated(
  "run: -e overrides a default without duplicating it; -w sets (and creates) the workdir",
  async () => {
    const r = await mc([
      "run",
      "-e",
      "HOME=/home/x",
      "-e",
      "FOO=bar",
      "-w",
      "/srv/app",
      "sh",
      "-c",
      "env; pwd",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.deepEqual(lines.filter((l) => l.startsWith("HOME=")), ["HOME=/home/x"]);
    assert.ok(lines.includes("FOO=bar"));
    assert.ok(lines.some((l) => l.startsWith("PATH=/usr/local/sbin")));
    assert.equal(lines.at(-2), "/srv/app");
  },
);

isolated("run: stdin is passed through with -i", async () => {
  const r = await mc(["run", "-i", "cat"], { stdin: "piped in\n" });
  assert.equal(r.stdout, "piped in\n");
});

isolated("run: --network none has only lo, up; --network host sees the host's links", async () => {
  const none = await mc(["run", "cat", "/proc/net/dev"]);
  const links = none.stdout.split("\n").slice(2).filter(Boolean).map((l) => l.split(":")[0].trim());
  assert.deepEqual(links, ["lo"]);
  const up = await mc(["run", "cat", "/sys/class/net/lo/operstate", "/sys/class/net/lo/flags"]);
  assert.match(up.stdout, /0x9/, "IFF_UP|IFF_LOOPBACK");
  const host = await mc(["run", "--network", "host", "cat", "/proc/net/dev"]);
  const hostLinks =
    Deno.readTextFileSync("/proc/net/dev").split("\n").slice(2).filter(Boolean).length;
  assert.equal(host.stdout.split("\n").slice(2).filter(Boolean).length, hostLinks);
});

isolated("run: two containers at once, each with its own hostname", async () => {
  const [a, b] = await Promise.all([
    mc(["run", "-h", "one", "sh", "-c", "sleep 0.3; hostname"]),
    mc(["run", "-h", "two", "sh", "-c", "sleep 0.3; hostname"]),
  ]);
  assert.equal(a.stdout.trim(), "one");
  assert.equal(b.stdout.trim(), "two");
});

isolated(
  "run: --debug prints one line per step, parent and child, with ms since the start",
  async () => {
    const r = await mc(["run", "--debug", "true"]);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^\[parent \+[\d.]+ ms\] clone ok, pid \d+$/m);
    assert.match(r.stderr, /^\[child \+[\d.]+ ms\] pivot_root .* ok$/m);
    assert.match(r.stderr, /^\[child \+[\d.]+ ms\] mount proc on \/proc ok$/m);
    // One clock for both: the child's ops fall between the parent's clone and its "execve ok".
    const at = (re: RegExp) => Number(re.exec(r.stderr)?.[1]);
    const cloned = at(/^\[parent \+([\d.]+) ms\] clone ok/m);
    const pivot = at(/^\[child \+([\d.]+) ms\] pivot_root .* ok$/m);
    const exec = at(/^\[parent \+([\d.]+) ms\] execve ok$/m);
    assert.ok(cloned > 0 && cloned <= pivot && pivot <= exec, r.stderr);
    // Times count from the launcher's start, so Deno's own start is in the first line's.
    assert.ok(exec < 10_000, r.stderr);
    // The launcher runs the bundle (bundle.sh), rebuilt first if a source changed.
    assert.match(
      r.stderr,
      /^\[parent \+[\d.]+ ms\] run's modules loaded from file:\/\/.*\/dist\/js\/main\.js,/m,
    );
  },
);

isolated("run: bad input is one sentence, exit 125, nothing left behind", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["run", "--rootfs", "/nonexistent/rootfs", "true"],
      /^minicontainer: rootfs \/nonexistent\/rootfs: No such file or directory$/,
    ],
    [
      ["run", "--rootfs", "/etc/passwd", "true"],
      /^minicontainer: rootfs \/etc\/passwd: Not a directory$/,
    ],
    [["run", "--bogus", "true"], /^minicontainer: usage: unknown flag: --bogus$/],
    [
      ["run", "-v", "/nonexistent/dir:/data", "true"],
      /^minicontainer: volume \/nonexistent\/dir: No such file or directory$/,
    ],
    [["run", "--hostname", "x".repeat(65), "true"], /longer than 64 bytes/],
    [
      ["run", "--network", "no-such-net", "true"],
      /^minicontainer: network no-such-net: no such network/,
    ],
    [["run"], /run needs a command/],
    [["frobnicate"], /unknown command "frobnicate"/],
  ];
  for (const [args, message] of cases) {
    const r = await mc(args);
    assert.equal(r.code, 125, args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr.trim(), message);
  }
});

Deno.test({
  ...rootOnly(
    "run: rootless, as nobody: PID 1 with its own hostname and /proc, in a user namespace",
  ),
  async fn() {
    const home = nobodyHome();
    try {
      const out = await mcAsNobody(
        [
          "run",
          "--hostname",
          "rootless",
          "sh",
          "-c",
          "echo pid=$$; hostname; id -u; cat /proc/self/uid_map; ls -d /proc/[0-9]* | wc -l",
        ],
        // No MINICONTAINER_DATA: nobody's default data folder (under HOME) is what is tested.
        { DENO_DIR: `${home}/deno`, HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      );
      const stdout = out.stdout;
      assert.equal(out.code, 0, out.stderr);
      const [pid, hostname, uid, map, count] = stdout.trim().split("\n");
      assert.equal(pid, "pid=1");
      assert.equal(hostname, "rootless");
      assert.equal(uid, "0");
      assert.deepEqual(map.trim().split(/\s+/), ["0", "65534", "1"]);
      assert.ok(Number(count) <= 3, stdout);
      // The default rootfs of an unprivileged user lives in its own data folder.
      Deno.statSync(`${home}/.local/share/minicontainer/rootfs/default/bin/busybox`);
    } finally {
      Deno.removeSync(home, { recursive: true });
    }
  },
});
