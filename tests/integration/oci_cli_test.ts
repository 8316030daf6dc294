/**
 * The runc command line driven directly, as conmon and containerd's shim
 * do: create leaves the init waiting (and alive after create exits), start
 * releases it, state/kill/delete/exec/ps/pause on each state, hooks, a
 * namespace joined by path, sysctl, and bad input that leaves nothing.
 * @module
 */

import assert from "node:assert/strict";
import { encodePlan } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { exitCodeOf } from "../../lib/container/exit_status.ts";
import { seccompOps } from "../../lib/security/seccomp.ts";
import {
  containerCgroups,
  LAUNCHER,
  mc,
  removeCgroupTree,
  rootOnly,
  TEST_HOME,
  waitFor,
} from "./helpers.ts";

const DIR = `${TEST_HOME}/oci-cli`;
const ROOTFS = `${DIR}/rootfs`;

let built: Promise<void> | undefined;
function rootfs(): Promise<void> {
  built ??= (async () => {
    const r = await mc(["rootfs", "build", ROOTFS]);
    assert.equal(r.code, 0, r.stderr);
  })();
  return built;
}

/** A bundle whose config.json is `spec` (default: runc's spec) changed by `edit`. */
// deno-lint-ignore no-explicit-any
type Config = Record<string, any>; // a config.json to edit freely in tests

async function bundle(name: string, edit: (c: Config) => void): Promise<string> {
  await rootfs();
  const dir = `${DIR}/${name}`;
  Deno.mkdirSync(dir, { recursive: true });
  try {
    Deno.removeSync(`${dir}/config.json`);
  } catch { /* first use */ }
  const made = await mc(["spec", "--bundle", dir]);
  assert.equal(made.code, 0, made.stderr);
  const config = JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
  config.root = { path: ROOTFS, readonly: false };
  config.process.terminal = false;
  edit(config);
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
  return dir;
}

/**
 * Runs `minicontainer ARGS` with stdout and stderr in files: a created
 * container inherits them, so a pipe would stay open as long as it runs.
 */
async function oci(
  args: string[],
  name = "out",
): Promise<{ code: number; out: string; err: string }> {
  const out = `${DIR}/${name}.stdout`;
  const err = `${DIR}/${name}.stderr`;
  const r = await new Deno.Command("sh", {
    args: ["-c", 'o=$1; e=$2; shift 2; exec "$@" >"$o" 2>"$e"', "sh", out, err, LAUNCHER, ...args],
    stdin: "null",
  }).output();
  return { code: r.code, out: Deno.readTextFileSync(out), err: Deno.readTextFileSync(err) };
}

function state(id: string): Promise<{ code: number; out: string; err: string }> {
  return oci(["state", id], "state");
}

/** The cgroup directories of OCI container `id` (other tests' come and go meanwhile). */
function ownCgroups(id: string): string[] {
  return containerCgroups().filter((p) => p.endsWith(`/minicontainer-${id}`));
}

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

Deno.test(
  rootOnly("oci: create leaves the init waiting and alive; start runs it; delete removes all"),
  async () => {
    const b = await bundle("life", (c) => {
      c.process.args = ["sh", "-c", "echo started; echo $$ > /tmp/pid1; sleep 30"];
    });
    const created = await oci(
      ["create", "--bundle", b, "--pid-file", `${DIR}/life.pid`, "life"],
      "life",
    );
    assert.equal(created.code, 0, created.err);
    const pid = Number(Deno.readTextFileSync(`${DIR}/life.pid`));
    try {
      // create has exited; the init lives on (no parent-death signal) and waits.
      assert.ok(alive(pid), "the init died with create");
      const s = JSON.parse((await state("life")).out);
      assert.deepEqual(
        { ...s, created: "" },
        {
          ociVersion: s.ociVersion,
          id: "life",
          pid,
          status: "created",
          bundle: b,
          rootfs: ROOTFS,
          created: "",
          owner: "",
        },
      );
      assert.ok(!Number.isNaN(Date.parse(s.created)));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(Deno.readTextFileSync(`${DIR}/life.stdout`), "", "the command ran before start");
      // A second create of the id is refused and leaves the first alone.
      const again = await oci(["create", "--bundle", b, "life"], "again");
      assert.notEqual(again.code, 0);
      assert.match(again.err, /container with id exists: life/);
      assert.ok(alive(pid));

      const started = await oci(["start", "life"], "start");
      assert.equal(started.code, 0, started.err);
      await waitFor(
        () => Deno.readTextFileSync(`${DIR}/life.stdout`) === "started\n",
        5000,
        "output",
      );
      assert.equal(JSON.parse((await state("life")).out).status, "running");
      assert.match((await oci(["start", "life"], "start2")).err, /already running/);

      // exec --process --detach: the process's pid file, its output on our stdout.
      Deno.writeTextFileSync(
        `${DIR}/process.json`,
        JSON.stringify({
          args: ["sh", "-c", "echo exec sees $(cat /tmp/pid1)"],
          cwd: "/",
          user: { uid: 0, gid: 0 },
          env: ["PATH=/bin"],
        }),
      );
      const exec = await oci([
        "exec",
        "--process",
        `${DIR}/process.json`,
        "--detach",
        "--pid-file",
        `${DIR}/exec.pid`,
        "life",
      ], "exec");
      assert.equal(exec.code, 0, exec.err);
      assert.ok(Number(Deno.readTextFileSync(`${DIR}/exec.pid`)) > 0);
      await waitFor(
        () => Deno.readTextFileSync(`${DIR}/exec.stdout`) === "exec sees 1\n",
        5000,
        "exec output",
      );

      // process.json's own rlimits and I/O priority reach the exec'd process (runc's exec).
      Deno.writeTextFileSync(
        `${DIR}/process2.json`,
        JSON.stringify({
          args: ["sh", "-c", "ulimit -n; ionice"],
          cwd: "/",
          user: { uid: 0, gid: 0 },
          env: ["PATH=/bin"],
          rlimits: [{ type: "RLIMIT_NOFILE", soft: 123, hard: 456 }],
          ioPriority: { class: "IOPRIO_CLASS_IDLE", priority: 0 },
        }),
      );
      const exec2 = await oci(["exec", "--process", `${DIR}/process2.json`, "life"], "exec2");
      assert.equal(exec2.code, 0, exec2.err);
      assert.match(exec2.out, /^123\nidle/);
      Deno.writeTextFileSync(
        `${DIR}/process3.json`,
        JSON.stringify({
          args: ["true"],
          cwd: "/",
          rlimits: [{ type: "NOFILE", soft: 1, hard: 1 }],
        }),
      );
      const exec3 = await oci(["exec", "--process", `${DIR}/process3.json`, "life"], "exec3");
      assert.notEqual(exec3.code, 0);
      assert.match(exec3.err, /process.rlimits: unknown type "NOFILE"/);

      const ps = await oci(["ps", "--format", "json", "life"], "ps");
      assert.equal(ps.code, 0, ps.err);
      assert.ok(JSON.parse(ps.out).includes(pid), ps.out);

      assert.equal((await oci(["pause", "life"], "pause")).code, 0);
      assert.equal(JSON.parse((await state("life")).out).status, "paused");
      assert.equal((await oci(["resume", "life"], "resume")).code, 0);

      const refused = await oci(["delete", "life"], "del");
      assert.notEqual(refused.code, 0);
      assert.match(refused.err, /cannot delete container life that is not stopped: running/);
      assert.equal((await oci(["kill", "life", "KILL"], "kill")).code, 0);
      await waitFor(() => !alive(pid), 5000, "the init to die");
      const stopped = JSON.parse((await state("life")).out);
      assert.equal(stopped.status, "stopped");
      assert.equal(stopped.pid, 0);
      assert.match((await oci(["kill", "life", "9"], "kill2")).err, /container not running/);
      assert.equal((await oci(["delete", "life"], "del2")).code, 0);
      assert.match((await state("life")).err, /container does not exist/);
      assert.deepEqual(ownCgroups("life"), [], "a cgroup outlived delete");
      assert.equal((await oci(["delete", "--force", "life"], "del3")).code, 0);
    } finally {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
      await oci(["delete", "--force", "life"], "cleanup");
    }
  },
);

Deno.test(
  rootOnly("oci: delete of a created container is refused, --force kills it; kill --all"),
  async () => {
    const b = await bundle("force", (c) => {
      c.process.args = ["sleep", "30"];
    });
    assert.equal(
      (await oci(["create", "--bundle", b, "--pid-file", `${DIR}/f.pid`, "force"])).code,
      0,
    );
    const pid = Number(Deno.readTextFileSync(`${DIR}/f.pid`));
    // The spec: delete of a container that is not stopped is an error and
    // has no effect, a created one included (runc kills it instead).
    const refused = await oci(["delete", "force"]);
    assert.equal(refused.code, 125);
    assert.match(refused.err, /cannot delete container force that is not stopped: created/);
    assert.ok(alive(pid), "delete without --force killed the created container");
    assert.equal(JSON.parse((await state("force")).out).status, "created");
    const del = await oci(["delete", "--force", "force"]);
    assert.equal(del.code, 0, del.err);
    await waitFor(() => !alive(pid), 5000, "the init to die");
    assert.equal((await oci(["list", "-q"])).out, "");

    // --all reaches every process; without it only the init (which, as a
    // namespace's PID 1 without a handler, ignores SIGTERM).
    const all = await bundle("all", (c) => {
      c.process.args = ["sh", "-c", "sleep 30 & sleep 30 & wait"];
    });
    assert.equal(
      (await oci(["create", "--bundle", all, "--pid-file", `${DIR}/all.pid`, "all"])).code,
      0,
    );
    try {
      const init = Number(Deno.readTextFileSync(`${DIR}/all.pid`));
      assert.equal((await oci(["start", "all"])).code, 0);
      const pids = async () => JSON.parse((await oci(["ps", "--format", "json", "all"])).out);
      for (let i = 0; i < 100 && (await pids()).length < 3; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal((await pids()).length, 3);
      assert.equal((await oci(["kill", "all", "TERM"])).code, 0);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await pids()).length, 3, "kill without --all reached more than the init");
      assert.equal((await oci(["kill", "--all", "all", "TERM"])).code, 0);
      for (let i = 0; i < 100 && (await pids()).length > 1; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      // The sleeps are gone; the init is left, or ended its wait and exited.
      const left: number[] = await pids();
      assert.ok(left.every((p) => p === init), `left: ${left}`);
    } finally {
      await oci(["delete", "--force", "all"]);
    }
  },
);

Deno.test(
  rootOnly("oci: bad input is one sentence, non-zero, nothing left behind (and in --log as JSON)"),
  async () => {
    await rootfs();
    const malformed = `${DIR}/malformed`;
    Deno.mkdirSync(malformed, { recursive: true });
    Deno.writeTextFileSync(`${malformed}/config.json`, "{ not json");
    const noConfig = `${DIR}/noconfig`;
    Deno.mkdirSync(noConfig, { recursive: true });
    const badNs = await bundle("badns", (c) => c.linux.namespaces.push({ type: "bogus" }));
    const badSysctl = await bundle("badsysctl", (c) => c.linux.sysctl = { "kernel.panic": "1" });
    const noCmd = await bundle("nocmd", (c) => c.process.args = ["/no/such/cmd"]);
    const cases: [string[], RegExp][] = [
      [["create", "--bundle", `${DIR}/does-not-exist`, "x"], /does-not-exist: No such file/],
      [["create", "--bundle", malformed, "x"], /parse config.json in bundle .*malformed/],
      [["create", "--bundle", noConfig, "x"], /read config.json in bundle .*: No such file/],
      [["create", "--bundle", badNs, "x"], /linux.namespaces: unknown namespace type "bogus"/],
      [["create", "--bundle", badSysctl, "x"], /kernel.panic is not namespaced/],
      [["create", "--bundle", noCmd, "x"], /\/no\/such\/cmd.*No such file/],
      [["create", "--bundle", noCmd, "../x"], /invalid id format/],
      [["start", "nosuch"], /container does not exist/],
      [["state", "nosuch"], /container does not exist/],
    ];
    for (const [args, re] of cases) {
      const log = `${DIR}/log.json`;
      try {
        Deno.removeSync(log);
      } catch { /* first */ }
      const r = await oci(["--log", log, "--log-format", "json", ...args]);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.match(r.err, re, args.join(" "));
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
      const line = JSON.parse(Deno.readTextFileSync(log).trim().split("\n").pop()!);
      assert.equal(line.level, "error");
      assert.match(line.msg, re);
    }
    assert.equal((await oci(["list", "-q"])).out, "", "a state folder was left");
    assert.deepEqual([...Deno.readDirSync(`${Deno.env.get("MINICONTAINER_ROOT")}/oci`)], []);
    assert.deepEqual(ownCgroups("x"), [], "a cgroup was left");
  },
);

Deno.test(
  rootOnly("oci: hooks get the state on stdin; a netns joined by path; sysctl; oomScoreAdj"),
  async () => {
    const hookOut = `${DIR}/hook`;
    const hook = (name: string) => ({
      path: "/bin/sh",
      args: ["sh", "-c", `cat > ${hookOut}.${name}`],
    });
    const first = await bundle("netA", (c) => {
      c.process.args = ["sleep", "30"];
      c.linux.sysctl = { "net.ipv4.ip_forward": "1" };
      c.process.oomScoreAdj = 123;
      c.hooks = {
        prestart: [hook("prestart")],
        poststart: [hook("poststart")],
        poststop: [hook("poststop")],
      };
    });
    assert.equal(
      (await oci(["create", "--bundle", first, "--pid-file", `${DIR}/a.pid`, "neta"])).code,
      0,
    );
    try {
      const pid = Number(Deno.readTextFileSync(`${DIR}/a.pid`));
      const pre = JSON.parse(Deno.readTextFileSync(`${hookOut}.prestart`));
      assert.equal(pre.id, "neta");
      assert.equal(pre.pid, pid);
      assert.equal(pre.status, "created");
      assert.equal((await oci(["start", "neta"])).code, 0);
      assert.equal(JSON.parse(Deno.readTextFileSync(`${hookOut}.poststart`)).status, "running");
      assert.equal(Deno.readTextFileSync(`/proc/${pid}/oom_score_adj`).trim(), "123");
      const second = await bundle("netB", (c) => {
        c.process.args = [
          "sh",
          "-c",
          "readlink /proc/self/ns/net; cat /proc/sys/net/ipv4/ip_forward",
        ];
        c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) =>
          n.type === "network" ? { type: "network", path: `/proc/${pid}/ns/net` } : n
        );
      });
      const run = await oci(["run", "--bundle", second, "netb"], "netb");
      assert.equal(run.code, 0, run.err);
      assert.equal(run.out, `${Deno.readLinkSync(`/proc/${pid}/ns/net`)}\n1\n`);
      assert.notEqual(
        Deno.readLinkSync(`/proc/${pid}/ns/net`),
        Deno.readLinkSync("/proc/self/ns/net"),
      );
    } finally {
      await oci(["delete", "--force", "neta"]);
    }
    assert.equal(JSON.parse(Deno.readTextFileSync(`${hookOut}.poststop`)).id, "neta");
  },
);

Deno.test(
  rootOnly(
    "oci: update writes new limits into the running container's cgroup; --version, features, spec",
  ),
  async () => {
    const b = await bundle("upd", (c) => {
      c.process.args = ["sleep", "30"];
      c.linux.cgroupsPath = "/mc-oci-test/upd";
      c.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 100 } };
    });
    assert.equal((await oci(["create", "--bundle", b, "upd"])).code, 0);
    try {
      const file = "/sys/fs/cgroup/memory/mc-oci-test/upd/memory.limit_in_bytes";
      const v2 = (() => {
        try {
          return Deno.statSync("/sys/fs/cgroup/cgroup.controllers").isFile;
        } catch {
          return false;
        }
      })();
      const limit = v2 ? "/sys/fs/cgroup/mc-oci-test/upd/memory.max" : file;
      assert.equal(Deno.readTextFileSync(limit).trim(), `${64 * 1024 * 1024}`);
      Deno.writeTextFileSync(
        `${DIR}/res.json`,
        JSON.stringify({ memory: { limit: 32 * 1024 * 1024 } }),
      );
      const u = await oci([
        "update",
        "--resources",
        `${DIR}/res.json`,
        "--pids-limit",
        "20",
        "upd",
      ]);
      assert.equal(u.code, 0, u.err);
      assert.equal(Deno.readTextFileSync(limit).trim(), `${32 * 1024 * 1024}`);
      const pids = v2
        ? "/sys/fs/cgroup/mc-oci-test/upd/pids.max"
        : "/sys/fs/cgroup/pids/mc-oci-test/upd/pids.max";
      assert.equal(Deno.readTextFileSync(pids).trim(), "20");
    } finally {
      await oci(["delete", "--force", "upd"]);
      // delete removes the container's cgroup; the parent named in cgroupsPath is the caller's.
      await removeCgroupTree("mc-oci-test");
    }
    const version = await mc(["--version"]);
    assert.match(version.stdout, /^minicontainer version \S+\nspec: 1\.\d+\.\d+\n$/);
    const features = JSON.parse((await mc(["features"])).stdout);
    assert.ok(features.linux.namespaces.includes("network"));
    const dir = Deno.makeTempDirSync({ dir: DIR });
    assert.equal((await mc(["spec", "--bundle", dir])).code, 0);
    const again = await mc(["spec", "--bundle", dir]);
    assert.equal(again.code, 125);
    assert.match(again.stderr, /File config.json exists/);
  },
);

/** Whether the host runs cgroup v2 alone. */
function pureV2(): boolean {
  try {
    return Deno.statSync("/sys/fs/cgroup/cgroup.controllers").isFile;
  } catch {
    return false;
  }
}

Deno.test(
  rootOnly(
    "oci: kernel TCP, swappiness and the OOM killer reach a v1 memory cgroup; the rest is named",
  ),
  async () => {
    const MiB = 1024 * 1024;
    const b = await bundle("mem", (c) => {
      c.process.args = ["sleep", "30"];
      c.linux.resources = {
        memory: {
          limit: 64 * MiB,
          kernel: 64 * MiB,
          kernelTCP: 16 * MiB,
          swappiness: 10,
          disableOOMKiller: true,
        },
        network: { classID: 255 },
      };
    });
    const created = await oci(["create", "--bundle", b, "mem"], "mem");
    assert.equal(created.code, 0, created.err);
    try {
      if (pureV2()) {
        for (const what of ["kernel TCP buffer limit", "memory swappiness 10", "OOM killer"]) {
          assert.match(created.err, new RegExp(`${what}.* not applied: cgroup v2 has no`));
        }
        return;
      }
      const dir = ownCgroups("mem").find((p) => p.startsWith("/sys/fs/cgroup/memory/"))!;
      assert.ok(dir, `no memory cgroup among ${ownCgroups("mem")}`);
      const read = (f: string) => Deno.readTextFileSync(`${dir}/${f}`).trim();
      assert.equal(read("memory.kmem.tcp.limit_in_bytes"), `${16 * MiB}`);
      assert.equal(read("memory.swappiness"), "10");
      assert.match(read("memory.oom_control"), /^oom_kill_disable 1$/m);
      // Linux 6.1+ keeps the kernel limit unlimited whatever is written: then it is named.
      if (read("memory.kmem.limit_in_bytes") !== `${64 * MiB}`) {
        assert.match(created.err, /kernel memory limit 67108864 not applied: .* still reads/);
      }
      const netCls = ownCgroups("mem").find((p) => p.includes("net_cls"));
      if (netCls) assert.equal(Deno.readTextFileSync(`${netCls}/net_cls.classid`).trim(), "255");
      else assert.match(created.err, /network class id 255 not applied: the net_cls cgroup/);
    } finally {
      await oci(["delete", "--force", "mem"]);
    }
  },
);

Deno.test(
  rootOnly("oci: pid, mount and user namespaces joined by path (the init is born in the pid one)"),
  async () => {
    // A process with namespaces of its own, as runtime-tools makes one.
    const holder = new Deno.Command("unshare", {
      args: ["--pid", "--mount", "--net", "--fork", "sleep", "30"],
      stdin: "null",
    }).spawn();
    const link = (p: string) => {
      try {
        return Deno.readLinkSync(p);
      } catch {
        return "";
      }
    };
    const h = holder.pid;
    try {
      await waitFor(
        () =>
          link(`/proc/${h}/ns/pid_for_children`) !== link("/proc/self/ns/pid") &&
          link(`/proc/${h}/ns/mnt`) !== link("/proc/self/ns/mnt"),
        5000,
        "unshare's namespaces",
      );
      const b = await bundle("nspath", (c) => {
        c.process.args = ["sleep", "30"];
        c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) =>
          !["pid", "mount", "network"].includes(n.type)
        ).concat([
          { type: "pid", path: `/proc/${h}/ns/pid_for_children` },
          { type: "mount", path: `/proc/${h}/ns/mnt` },
          // Opened before the mount namespace is joined, where the path could name another file.
          { type: "network", path: `/proc/${h}/ns/net` },
        ]);
      });
      const created = await oci(["create", "--bundle", b, "--pid-file", `${DIR}/nsp.pid`, "nsp"]);
      assert.equal(created.code, 0, created.err);
      try {
        const pid = Number(Deno.readTextFileSync(`${DIR}/nsp.pid`));
        assert.equal(JSON.parse((await state("nsp")).out).pid, pid);
        assert.equal(link(`/proc/${pid}/ns/pid`), link(`/proc/${h}/ns/pid_for_children`));
        assert.equal(link(`/proc/${pid}/ns/mnt`), link(`/proc/${h}/ns/mnt`));
        assert.equal(link(`/proc/${pid}/ns/net`), link(`/proc/${h}/ns/net`));
        // The runtime's own thread is back in its namespace: a later container is not in h's.
        const other = await bundle("nsown", (c) => c.process.args = ["readlink", "/proc/1/ns/pid"]);
        const own = await oci(["run", "--bundle", other, "nsown"], "nsown");
        assert.equal(own.code, 0, own.err);
        assert.notEqual(own.out.trim(), link(`/proc/${h}/ns/pid_for_children`));
      } finally {
        await oci(["delete", "--force", "nsp"]);
      }
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
    }

    // A user namespace (with its pid namespace) joined from another container.
    const owner = await bundle("userns", (c) => {
      c.process.args = ["sleep", "30"];
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    });
    const made = await oci(["create", "--bundle", owner, "--pid-file", `${DIR}/u.pid`, "usr"]);
    assert.equal(made.code, 0, made.err);
    try {
      const u = Number(Deno.readTextFileSync(`${DIR}/u.pid`));
      const joiner = await bundle("userjoin", (c) => {
        c.process.args = ["sh", "-c", "cat /proc/self/uid_map; echo $$"];
        c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "pid")
          .concat([
            { type: "user", path: `/proc/${u}/ns/user` },
            { type: "pid", path: `/proc/${u}/ns/pid` },
          ]);
      });
      const joined = await oci(["run", "--bundle", joiner, "usrj"], "usrj");
      assert.equal(joined.code, 0, joined.err);
      const [map, pid] = joined.out.trim().split("\n");
      assert.deepEqual(map.trim().split(/\s+/), ["0", "200000", "65536"]);
      assert.notEqual(pid, "1", "not in the owner's pid namespace");
      // A new pid namespace could not hold the init itself once the user namespace is joined.
      const refused = await bundle("userjoin2", (c) => {
        c.linux.namespaces.push({ type: "user", path: `/proc/${u}/ns/user` });
      });
      const r = await oci(["create", "--bundle", refused, "usrj2"]);
      assert.equal(r.code, 125);
      assert.match(r.err, /a new pid namespace inside a user namespace joined by path/);
    } finally {
      await oci(["delete", "--force", "usr"]);
    }
  },
);

Deno.test(
  rootOnly("oci: maskedPaths of the root's own files and directories hide them (not the host's)"),
  async () => {
    await rootfs();
    // Paths the host does not have: only the container's root can say what they are.
    const dir = `${ROOTFS}/mc-masked-dir`;
    Deno.mkdirSync(`${dir}/sub`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/sub/secret`, "secret\n");
    Deno.writeTextFileSync(`${ROOTFS}/mc-masked-file`, "secret\n");
    try {
      const b = await bundle("masked", (c) => {
        c.process.args = [
          "sh",
          "-c",
          "ls -A /mc-masked-dir; cat /mc-masked-file; test -e /mc-masked-dir/sub; echo sub $?",
        ];
        c.linux.maskedPaths.push("/mc-masked-dir", "/mc-masked-file", "/mc-masked-dir/sub/secret");
      });
      const r = await oci(["run", "--bundle", b, "masked"], "masked");
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, "sub 1\n");
    } finally {
      Deno.removeSync(dir, { recursive: true });
      Deno.removeSync(`${ROOTFS}/mc-masked-file`);
    }
  },
);

/**
 * A host directory with a tmpfs mounted on its `sub` (holding an executable
 * script), for a recursive option to reach; `use` runs while it is there.
 */
async function withSubmount(name: string, use: (src: string) => Promise<void>): Promise<void> {
  const src = `${DIR}/${name}-src`;
  Deno.mkdirSync(`${src}/sub`, { recursive: true });
  const mount = (args: string[]) => new Deno.Command("mount", { args }).outputSync();
  assert.equal(mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", `${src}/sub`]).code, 0);
  try {
    Deno.writeTextFileSync(`${src}/sub/run.sh`, "#!/bin/sh\necho ran\n", { mode: 0o755 });
    await use(src);
  } finally {
    new Deno.Command("umount", { args: [`${src}/sub`] }).outputSync();
    Deno.removeSync(src, { recursive: true });
  }
}

Deno.test(
  rootOnly("oci: rro makes a bind's submounts read-only too, where ro leaves them writable"),
  async () => {
    await withSubmount("rro", async (src) => {
      const b = await bundle("rro", (c) => {
        c.process.args = [
          "sh",
          "-c",
          "touch /mnt/ro/sub/a && echo ro sub writable; touch /mnt/ro/top; " +
          "touch /mnt/rro/sub/b; touch /mnt/rro/top; echo done",
        ];
        c.mounts.push(
          { destination: "/mnt/ro", type: "bind", source: src, options: ["rbind", "ro"] },
          { destination: "/mnt/rro", type: "bind", source: src, options: ["rbind", "rro"] },
        );
      });
      const r = await oci(["run", "--bundle", b, "rro"], "rro");
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, "ro sub writable\ndone\n");
      assert.match(r.err, /\/mnt\/ro\/top: Read-only file system/);
      assert.match(r.err, /\/mnt\/rro\/sub\/b: Read-only file system/);
      assert.match(r.err, /\/mnt\/rro\/top: Read-only file system/);
      assert.ok(Deno.statSync(`${src}/sub/a`).isFile, "the ro bind's submount took the write");
    });
  },
);

Deno.test(
  rootOnly("oci: rnoexec refuses exec in a bind's submount; a plain rbind runs it"),
  async () => {
    await withSubmount("rnoexec", async (src) => {
      const b = await bundle("rnoexec", (c) => {
        c.process.args = ["sh", "-c", "/mnt/x/sub/run.sh; /mnt/nx/sub/run.sh; echo $?"];
        c.mounts.push(
          { destination: "/mnt/x", source: src, options: ["rbind"] },
          { destination: "/mnt/nx", source: src, options: ["rbind", "rnoexec", "rnosuid"] },
        );
      });
      const r = await oci(["run", "--bundle", b, "rnoexec"], "rnoexec");
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, "ran\n126\n");
      assert.match(r.err, /\/mnt\/nx\/sub\/run.sh: Permission denied/);
    });
  },
);

Deno.test(
  rootOnly("oci: an idmap bind shows the files as the mount's maps say, the container's without"),
  async () => {
    const src = `${DIR}/idmap-src`;
    Deno.mkdirSync(src, { recursive: true });
    Deno.writeTextFileSync(`${src}/f`, "");
    Deno.chownSync(`${src}/f`, 0, 0);
    try {
      const b = await bundle("idmap", (c) => {
        c.process.args = ["stat", "-c", "%u %g", "/mnt/id/f", "/mnt/plain/f"];
        c.mounts.push({
          destination: "/mnt/id",
          source: src,
          options: ["rbind", "idmap"],
          uidMappings: [{ containerID: 0, hostID: 1234, size: 1 }],
          gidMappings: [{ containerID: 0, hostID: 5678, size: 1 }],
        }, { destination: "/mnt/plain", source: src, options: ["rbind"] });
      });
      const r = await oci(["run", "--bundle", b, "idmap"], "idmap");
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, "1234 5678\n0 0\n");
      // In a user namespace (0 -> 100000), with the container's maps: the
      // on-disk root shows as the container's root, the rest as nobody.
      // Its root needs the mount points made beforehand (its root is not its own).
      Deno.mkdirSync(`${ROOTFS}/mnt/id`, { recursive: true });
      Deno.mkdirSync(`${ROOTFS}/mnt/plain`, { recursive: true });
      const u = await bundle("idmap-userns", (c) => {
        c.process.args = ["sh", "-c", "stat -c '%u %g' /mnt/id/f /mnt/plain/f; touch /mnt/id/g"];
        c.linux.namespaces.push({ type: "user" });
        c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.mounts.push(
          { destination: "/mnt/id", source: src, options: ["rbind", "ridmap"] },
          { destination: "/mnt/plain", source: src, options: ["rbind"] },
        );
      });
      const ur = await oci(["run", "--bundle", u, "idmap-userns"], "idmap-userns");
      assert.equal(ur.code, 0, ur.err);
      assert.equal(ur.out, "0 0\n65534 65534\n");
      const g = Deno.statSync(`${src}/g`);
      assert.deepEqual([g.uid, g.gid], [0, 0], "the container's root wrote as the on-disk root");
    } finally {
      Deno.removeSync(src, { recursive: true });
    }
  },
);

Deno.test(
  rootOnly("oci: on a kernel without mount_setattr (ENOSYS) rro and idmap are errors naming it"),
  async () => {
    // The runtime and everything it starts under a filter that makes
    // mount_setattr ENOSYS, as a kernel before 5.12 answers.
    const filter = seccompOps({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mount_setattr"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }],
    });
    const t = trampoline();
    const underFilter = async (args: string[], name: string) => {
      const env = Object.entries(Deno.env.toObject()).map(([k, v]) => `${k}=${v}`);
      const out = `${DIR}/${name}.stdout`;
      const err = `${DIR}/${name}.stderr`;
      const child = t.spawn(
        0,
        encodePlan([
          { call: "wait_sync", args: [], label: "wait" },
          { call: "prctl", args: [K.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0], label: "no_new_privs" },
          ...filter,
          {
            call: "execve",
            args: [
              "/bin/sh",
              [
                "sh",
                "-c",
                'o=$1; e=$2; shift 2; exec "$@" >"$o" 2>"$e" </dev/null',
                "sh",
                out,
                err,
                LAUNCHER,
                ...args,
              ],
              env,
            ],
            label: "exec",
            exec: true,
          },
        ]),
        -1,
      );
      t.release(child.syncFd);
      t.close(child.errorFd);
      const status = await t.wait(child.pid);
      return { code: exitCodeOf(status), err: Deno.readTextFileSync(err) };
    };
    const src = `${DIR}/enosys-src`;
    Deno.mkdirSync(src, { recursive: true });
    try {
      const rro = await bundle("enosys-rro", (c) => {
        c.process.args = ["true"];
        c.mounts.push({ destination: "/mnt", source: src, options: ["rbind", "rro"] });
      });
      const r = await underFilter(["run", "--bundle", rro, "enosys-rro"], "enosys-rro");
      assert.equal(r.code, 125, r.err);
      assert.match(
        r.err,
        /^minicontainer: apply rro to \/mnt and the mounts below it \(mount_setattr, Linux 5\.12 or later\): Function not implemented\n$/,
      );
      const idmap = await bundle("enosys-idmap", (c) => {
        c.process.args = ["true"];
        c.mounts.push({
          destination: "/mnt",
          source: src,
          options: ["rbind", "idmap"],
          uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
          gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
        });
      });
      const i = await underFilter(["run", "--bundle", idmap, "enosys-idmap"], "enosys-idmap");
      assert.equal(i.code, 125, i.err);
      assert.match(i.err, /idmap mount of .* on \/mnt: idmapped mounts need Linux 5\.12 or later/);
      assert.notEqual((await state("enosys-rro")).code, 0, "nothing left behind");
    } finally {
      Deno.removeSync(src, { recursive: true });
    }
  },
);

Deno.test(
  rootOnly("oci: an option a mount cannot take is one sentence naming it, nothing left"),
  async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { destination: "/mnt", type: "tmpfs", source: "tmpfs", options: ["bogus"] },
        /^minicontainer: mount tmpfs on \/mnt with file-system options bogus: Invalid argument\n$/,
      ],
      [
        { destination: "/mnt", type: "tmpfs", source: "tmpfs", options: ["idmap"] },
        /^minicontainer: mount \/mnt: option idmap needs a bind mount\n$/,
      ],
    ];
    for (const [mount, re] of cases) {
      const b = await bundle("badopt", (c) => {
        c.process.args = ["true"];
        c.mounts.push(mount);
      });
      const r = await oci(["run", "--bundle", b, "badopt"], "badopt");
      assert.equal(r.code, 125);
      assert.match(r.err, re);
      assert.notEqual((await state("badopt")).code, 0, "nothing left behind");
      assert.deepEqual(ownCgroups("badopt"), []);
    }
    // A bind's file-system data, which mount(2) ignores and runc passes on: said, then dropped.
    const b = await bundle("binddata", (c) => {
      c.process.args = ["sh", "-c", "grep -c ' /mnt ' /proc/mounts"];
      c.mounts.push({
        destination: "/mnt",
        source: "/tmp",
        options: ["rbind", "rro", "mode=755", "size=1k"],
      });
    });
    const r = await oci(["run", "--bundle", b, "binddata"], "binddata");
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "1\n");
    assert.match(r.err, /\/mnt: file-system options mode=755, size=1k are ignored on a bind mount/);
  },
);

Deno.test(
  rootOnly("oci: a capability the host withholds is named, the rest applied"),
  async () => {
    const capsOf = (pid: string | number) =>
      BigInt(
        `0x${Deno.readTextFileSync(`/proc/${pid}/status`).match(/^CapPrm:\s+([0-9a-f]+)$/m)![1]}`,
      );
    const held = capsOf("self");
    const sysResource = 1n << 24n;
    const b = await bundle("caps", (c) => {
      c.process.args = ["sleep", "30"];
      const caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE"];
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
    });
    const r = await oci(["create", "--bundle", b, "--pid-file", `${DIR}/caps.pid`, "caps"], "caps");
    assert.equal(r.code, 0, r.err);
    try {
      const got = capsOf(Deno.readTextFileSync(`${DIR}/caps.pid`));
      assert.equal(got & 1n, 1n, "CAP_CHOWN");
      assert.equal(got & sysResource, held & sysResource);
      const named = /CAP_SYS_RESOURCE is left out of every set: this runtime does not hold it/;
      if (held & sysResource) assert.doesNotMatch(r.err, named);
      else assert.match(r.err, named);
    } finally {
      await oci(["delete", "--force", "caps"]);
    }
  },
);

Deno.test(
  rootOnly(
    "oci: without a mount namespace the root is still root.path (exec too), nothing mounted",
  ),
  async () => {
    await rootfs();
    const marker = `${ROOTFS}/mc-nomount-marker`;
    Deno.writeTextFileSync(marker, "");
    try {
      const b = await bundle("nomount", (c) => {
        c.process.args = [
          "sh",
          "-c",
          "test -e /mc-nomount-marker && echo in root.path; sleep 30",
        ];
        c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "mount");
      });
      // create and start: the exec fifo is reached without /proc.
      const created = await oci(["create", "--bundle", b, "nomount"], "nomount");
      assert.equal(created.code, 0, created.err);
      assert.match(created.err, /mounts.* not applied: without a mount namespace of its own/);
      assert.equal(JSON.parse((await state("nomount")).out).status, "created");
      assert.equal((await oci(["start", "nomount"])).code, 0);
      await waitFor(
        () => Deno.readTextFileSync(`${DIR}/nomount.stdout`) === "in root.path\n",
        5000,
        "the command's output",
      );
      // A process joining it is chrooted there too.
      const exec = await oci(
        ["exec", "nomount", "sh", "-c", "test -e /mc-nomount-marker && echo exec in root.path"],
        "nomount-exec",
      );
      assert.equal(exec.code, 0, exec.err);
      assert.equal(exec.out, "exec in root.path\n");
      const underRoot = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
        .filter((l) => l.split(" ")[4]?.startsWith(`${ROOTFS}/`));
      assert.deepEqual(underRoot, [], "the config's mounts were made in the host's namespace");
    } finally {
      await oci(["delete", "--force", "nomount"]);
      Deno.removeSync(marker);
    }
  },
);

Deno.test(
  rootOnly("oci: create without a process succeeds; start is then the spec's error, and it stops"),
  async () => {
    const b = await bundle("noproc", (c) => {
      delete c.process;
    });
    const created = await oci(["create", "--bundle", b, "--pid-file", `${DIR}/np.pid`, "noproc"]);
    assert.equal(created.code, 0, created.err);
    try {
      const pid = Number(Deno.readTextFileSync(`${DIR}/np.pid`));
      assert.ok(alive(pid));
      assert.equal(JSON.parse((await state("noproc")).out).status, "created");
      const started = await oci(["start", "noproc"]);
      assert.equal(started.code, 125);
      assert.match(started.err, /config.json has no process: there is nothing to start/);
      await waitFor(() => !alive(pid), 5000, "the init to go");
      assert.equal(JSON.parse((await state("noproc")).out).status, "stopped");
      assert.equal((await oci(["delete", "noproc"])).code, 0);
      // run needs the process at once.
      const run = await oci(["run", "--bundle", b, "noproc2"]);
      assert.equal(run.code, 125);
      assert.match(run.err, /process: missing \(this command needs one\)/);
    } finally {
      await oci(["delete", "--force", "noproc"]);
    }
  },
);

/** A hook running `script` in busybox sh, with `env` only. */
function shHook(script: string, extra: Record<string, unknown> = {}) {
  return { path: "/bin/sh", args: ["sh", "-c", script], ...extra };
}

/** The processes whose command line is exactly `args` (a hook's leftovers). */
function processesRunning(args: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0").join(" ").trim();
      if (cmd === args) pids.push(Number(e.name));
    } catch { /* gone */ }
  }
  return pids;
}

Deno.test(
  rootOnly(
    "oci: createContainer hooks run in the container's namespaces before pivot_root, " +
      "startContainer hooks in its root at start; each gets the state; the order is the spec's",
  ),
  async () => {
    const hk = `${DIR}/hk`;
    try {
      Deno.removeSync(hk, { recursive: true });
    } catch { /* first run */ }
    Deno.mkdirSync(hk, { recursive: true });
    const mark = (stage: string) => `cat > /dev/null; echo ${stage} >> ${hk}/order`;
    const b = await bundle("hooks", (c) => {
      c.process.args = ["sh", "-c", "echo process >> /hk/order"];
      c.mounts.push({ destination: "/hk", type: "bind", source: hk, options: ["rbind"] });
      c.hooks = {
        prestart: [shHook(mark("prestart"))],
        createRuntime: [shHook(mark("createRuntime"))],
        createContainer: [
          shHook(
            `cat > ${hk}/cc.state; readlink /proc/self/ns/mnt > ${hk}/cc.mnt; ` +
              `readlink /proc/self/ns/pid > ${hk}/cc.pid; ls ${ROOTFS}/proc > ${hk}/cc.proc; ` +
              `echo "$FOO $0" > ${hk}/cc.env; echo createContainer >> ${hk}/order`,
            { env: ["FOO=bar"] },
          ),
        ],
        startContainer: [
          shHook(
            "cat > /hk/sc.state; ls / > /hk/sc.root; echo startContainer >> /hk/order",
          ),
        ],
      };
    });
    const created = await oci(["create", "--bundle", b, "--pid-file", `${DIR}/hk.pid`, "hk"]);
    assert.equal(created.code, 0, created.err);
    try {
      const pid = Number(Deno.readTextFileSync(`${DIR}/hk.pid`));
      const cc = JSON.parse(Deno.readTextFileSync(`${hk}/cc.state`));
      assert.deepEqual([cc.id, cc.status, cc.pid, cc.bundle], ["hk", "creating", pid, b]);
      // The container's mount and PID namespaces, the host's paths: the
      // rootfs already has the container's /proc mounted on it.
      const text = (f: string) => Deno.readTextFileSync(`${hk}/${f}`).trim();
      assert.equal(text("cc.mnt"), Deno.readLinkSync(`/proc/${pid}/ns/mnt`));
      assert.notEqual(text("cc.mnt"), Deno.readLinkSync("/proc/self/ns/mnt"));
      assert.equal(text("cc.pid"), Deno.readLinkSync(`/proc/${pid}/ns/pid`));
      assert.ok(text("cc.proc").split("\n").includes("1"), text("cc.proc"));
      assert.ok(
        ![...Deno.readDirSync(`${ROOTFS}/proc`)].length,
        "the host sees the container's /proc",
      );
      assert.equal(text("cc.env"), "bar sh");
      // startContainer waits for start.
      assert.equal(text("order"), "prestart\ncreateRuntime\ncreateContainer");
      const started = await oci(["start", "hk"], "hk-start");
      assert.equal(started.code, 0, started.err);
      const sc = JSON.parse(Deno.readTextFileSync(`${hk}/sc.state`));
      assert.deepEqual([sc.id, sc.status, sc.pid], ["hk", "created", pid]);
      // Resolved and run after pivot_root: "/" is the container's.
      assert.ok(text("sc.root").split("\n").includes("hk"), text("sc.root"));
      await waitFor(() => text("order").endsWith("process"), 5000, "the process");
      assert.equal(
        text("order"),
        "prestart\ncreateRuntime\ncreateContainer\nstartContainer\nprocess",
      );
    } finally {
      await oci(["delete", "--force", "hk"]);
    }
  },
);

Deno.test(
  rootOnly(
    "oci: a failing or timed-out createContainer hook fails create with a sentence, nothing left; " +
      "a failing startContainer hook fails start and stops the container",
  ),
  async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [shHook("exit 3"), /^minicontainer: createContainer hook \/bin\/sh: exited with status 3$/],
      [
        // Ignoring SIGALRM and SIGTERM does not outlive the timeout; its child goes with the container.
        shHook("trap '' ALRM TERM; sleep 3141; true", { timeout: 1 }),
        /^minicontainer: createContainer hook \/bin\/sh: timed out after 1 s$/,
      ],
      [
        { path: "/no/such/hook" },
        /^minicontainer: execute createContainer hook \/no\/such\/hook: No such file or directory$/,
      ],
    ];
    for (const [hook, re] of cases) {
      const b = await bundle("hookfail", (c) => {
        c.process.args = ["true"];
        c.hooks = { createContainer: [hook] };
      });
      const r = await oci(["create", "--bundle", b, "hf"]);
      assert.equal(r.code, 125, r.err);
      assert.match(r.err.trim(), re);
      assert.match((await state("hf")).err, /container does not exist/);
      assert.deepEqual(ownCgroups("hf"), [], "a cgroup was left");
    }
    await waitFor(() => processesRunning("sleep 3141").length === 0, 5000, "the hook's child gone");

    const b = await bundle("hookfail", (c) => {
      c.process.args = ["sh", "-c", "echo ran"];
      c.hooks = { startContainer: [shHook("exit 4")] };
    });
    const created = await oci(["create", "--bundle", b, "--pid-file", `${DIR}/hf.pid`, "hf"], "hf");
    assert.equal(created.code, 0, created.err);
    const pid = Number(Deno.readTextFileSync(`${DIR}/hf.pid`));
    try {
      const started = await oci(["start", "hf"], "hf-start");
      assert.equal(started.code, 125);
      assert.equal(
        started.err.trim(),
        "minicontainer: startContainer hook /bin/sh: exited with status 4 (the container is now stopped)",
      );
      assert.equal(JSON.parse((await state("hf")).out).status, "stopped");
      assert.ok(!alive(pid));
      assert.equal(Deno.readTextFileSync(`${DIR}/hf.stdout`), "", "the process ran");
    } finally {
      assert.equal((await oci(["delete", "hf"])).code, 0);
    }
    assert.deepEqual(ownCgroups("hf"), [], "a cgroup was left");
  },
);

Deno.test(
  rootOnly("oci: a startContainer hook's timeout is enforced, by start and by a foreground run"),
  async () => {
    const b = await bundle("hooktime", (c) => {
      c.process.args = ["sh", "-c", "echo ran"];
      c.hooks = { startContainer: [shHook("sleep 3142; true", { timeout: 1 })] };
    });
    assert.equal((await oci(["create", "--bundle", b, "ht"], "ht")).code, 0);
    try {
      const started = await oci(["start", "ht"], "ht-start");
      assert.equal(started.code, 125);
      assert.match(started.err, /startContainer hook \/bin\/sh: timed out after 1 s/);
      await waitFor(
        () => processesRunning("sleep 3142").length === 0,
        5000,
        "the hook's child gone",
      );
      assert.equal(Deno.readTextFileSync(`${DIR}/ht.stdout`), "", "the process ran");
    } finally {
      await oci(["delete", "--force", "ht"]);
    }
    const run = await oci(["run", "--bundle", b, "ht2"], "ht2");
    assert.equal(run.code, 125);
    assert.equal(
      run.err.trim(),
      "minicontainer: startContainer hook /bin/sh: timed out after 1 s (the container is now stopped)",
    );
    assert.equal(run.out, "", "the process ran");
    assert.match((await state("ht2")).err, /container does not exist/);
    assert.deepEqual(ownCgroups("ht2"), [], "a cgroup was left");
    await waitFor(() => processesRunning("sleep 3142").length === 0, 5000, "the hook's child gone");
  },
);

Deno.test(
  rootOnly(
    "oci: a foreground run runs all six hooks in the spec's order, each with the state, " +
      "and exits with the container's status; nothing is left",
  ),
  async () => {
    const hk = `${DIR}/hkrun`;
    try {
      Deno.removeSync(hk, { recursive: true });
    } catch { /* first run */ }
    Deno.mkdirSync(hk, { recursive: true });
    // Each hook keeps its state and adds its stage to the order.
    const mark = (stage: string, dir = hk) =>
      `cat > ${dir}/${stage}.state; echo ${stage} >> ${dir}/order`;
    const b = await bundle("hkrun", (c) => {
      // The process waits for poststart: the spec runs it once the process
      // was executed, before start returns; poststop only after it exited.
      c.process.args = [
        "sh",
        "-c",
        "until grep -q poststart /hk/order; do sleep 0.02; done; echo process >> /hk/order; " +
        "echo out; exit 7",
      ];
      c.mounts.push({ destination: "/hk", type: "bind", source: hk, options: ["rbind"] });
      c.hooks = {
        prestart: [shHook(mark("prestart"))],
        createRuntime: [shHook(mark("createRuntime"))],
        createContainer: [shHook(mark("createContainer"))],
        startContainer: [shHook(mark("startContainer", "/hk"))],
        poststart: [shHook(mark("poststart"))],
        poststop: [shHook(mark("poststop"))],
      };
    });
    const r = await oci(["run", "--bundle", b, "--pid-file", `${DIR}/hkrun.pid`, "hkrun"], "hkrun");
    assert.equal(r.code, 7, r.err);
    assert.equal(r.out, "out\n");
    assert.equal(r.err, "");
    const text = (f: string) => Deno.readTextFileSync(`${hk}/${f}`).trim();
    assert.equal(
      text("order"),
      "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart\nprocess\npoststop",
    );
    const pid = Number(Deno.readTextFileSync(`${DIR}/hkrun.pid`));
    const st = (stage: string) => {
      const j = JSON.parse(text(`${stage}.state`));
      return [j.id, j.status, j.pid, j.bundle];
    };
    assert.deepEqual(st("prestart"), ["hkrun", "created", pid, b]);
    assert.deepEqual(st("createRuntime"), ["hkrun", "created", pid, b]);
    assert.deepEqual(st("createContainer"), ["hkrun", "creating", pid, b]);
    assert.deepEqual(st("startContainer"), ["hkrun", "created", pid, b]);
    assert.deepEqual(st("poststart"), ["hkrun", "running", pid, b]);
    assert.equal(JSON.parse(text("poststop.state")).id, "hkrun");
    assert.match((await state("hkrun")).err, /container does not exist/);
    assert.deepEqual(ownCgroups("hkrun"), [], "a cgroup was left");
    assert.ok(!alive(pid));
  },
);

Deno.test(
  rootOnly(
    "oci: a foreground run whose createContainer hook fails is one sentence, nothing left; " +
      "a command not in $PATH is its sentence and 127",
  ),
  async () => {
    const poststop = `${DIR}/hkfail.poststop`;
    try {
      Deno.removeSync(poststop);
    } catch { /* first run */ }
    const b = await bundle("hkfail", (c) => {
      c.process.args = ["sh", "-c", "echo ran"];
      c.hooks = {
        createContainer: [shHook("exit 3")],
        poststop: [shHook(`cat > ${poststop}`)],
      };
    });
    const r = await oci(["run", "--bundle", b, "--pid-file", `${DIR}/hkfail.pid`, "hkfail"], "hkf");
    assert.equal(r.code, 125);
    assert.equal(r.err, "minicontainer: createContainer hook /bin/sh: exited with status 3\n");
    assert.equal(r.out, "", "the process ran");
    assert.match((await state("hkfail")).err, /container does not exist/);
    assert.throws(
      () => Deno.statSync(`${Deno.env.get("MINICONTAINER_ROOT")}/oci/hkfail`),
      Deno.errors.NotFound,
    );
    // Nothing was created, so nothing is deleted: as with create.
    assert.throws(() => Deno.statSync(poststop), Deno.errors.NotFound);
    assert.deepEqual(ownCgroups("hkfail"), [], "a cgroup was left");

    const nf = await bundle("hkfail", (c) => {
      c.process.args = ["no-such-command-3143"];
    });
    const missing = await oci(["run", "--bundle", nf, "notfound"], "notfound");
    assert.equal(missing.code, 127);
    assert.equal(
      missing.err,
      'minicontainer: exec "no-such-command-3143": executable file not found in $PATH\n',
    );
    assert.match((await state("notfound")).err, /container does not exist/);
    assert.deepEqual(ownCgroups("notfound"), [], "a cgroup was left");
  },
);

Deno.test(
  rootOnly("oci: run --keep leaves the container stopped; delete then runs poststop, removes all"),
  async () => {
    const poststop = `${DIR}/keep.poststop`;
    try {
      Deno.removeSync(poststop);
    } catch { /* first run */ }
    const b = await bundle("keep", (c) => {
      c.process.args = ["sh", "-c", "exit 9"];
      c.hooks = { poststop: [shHook(`cat > ${poststop}`)] };
    });
    const r = await oci(["run", "--keep", "--bundle", b, "kept"], "kept");
    assert.equal(r.code, 9, r.err);
    try {
      assert.equal(JSON.parse((await state("kept")).out).status, "stopped");
      assert.throws(() => Deno.statSync(poststop), Deno.errors.NotFound);
      assert.notDeepEqual(ownCgroups("kept"), [], "its cgroup is kept for delete");
    } finally {
      assert.equal((await oci(["delete", "kept"])).code, 0);
    }
    assert.equal(JSON.parse(Deno.readTextFileSync(poststop)).id, "kept");
    assert.match((await state("kept")).err, /container does not exist/);
    assert.deepEqual(ownCgroups("kept"), [], "a cgroup was left");
  },
);

Deno.test(
  rootOnly("oci: linux.personality LINUX32 and process.ioPriority reach the container's process"),
  async () => {
    const b = await bundle("persona", (c) => {
      c.process.args = ["sh", "-c", "uname -m; ionice"];
      c.linux.personality = { domain: "LINUX32" };
      c.process.ioPriority = { class: "IOPRIO_CLASS_IDLE", priority: 0 };
    });
    const r = await oci(["run", "--bundle", b, "persona"], "persona");
    assert.equal(r.code, 0, r.err);
    // The host's x86_64 (or aarch64) reads as its 32-bit self under PER_LINUX32.
    assert.match(r.out, /^(i686|armv8l)\n/);
    assert.match(r.out, /^idle/m);
    const plain = await bundle(
      "persona-none",
      (c) => (c.process.args = ["sh", "-c", "uname -m; ionice"]),
    );
    const p = await oci(["run", "--bundle", plain, "persona-none"], "persona-none");
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /^(x86_64|aarch64)\n/);
    assert.doesNotMatch(p.out, /^idle/m);
    // Bad values are one sentence naming the field, nothing made.
    for (
      const [edit, message] of [
        [
          (c: Config) => (c.linux.personality = { domain: "BSD" }),
          /linux.personality.domain: "BSD"/,
        ],
        [
          (c: Config) => (c.process.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 8 }),
          /process.ioPriority.priority: 8 is not a level from 0 to 7/,
        ],
      ] as [(c: Config) => void, RegExp][]
    ) {
      const bad = await bundle("persona-bad", edit);
      const r = await oci(["create", "--bundle", bad, "persona-bad"], "persona-bad");
      assert.notEqual(r.code, 0);
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
      assert.match(r.err, message);
      assert.notEqual((await state("persona-bad")).code, 0, "nothing was created");
    }
  },
);
