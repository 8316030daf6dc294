// The trampoline for real, without namespaces (no root needed): the .so is
// loaded from its bytes through memfd_create, as a compiled binary does.
import assert from "node:assert/strict";
import { pipe } from "../../ffi/io.ts";
import { closeFd, libc, writeAll } from "../../ffi/libc.ts";
import { execHelperFd } from "../../ffi/monitor.ts";
import { encodePlan, execHelperArgv, HOOK_FAILED, IN_ROOT, type Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { loadTrampolineFromBytes, TRAMPOLINE_URL } from "../../ffi/trampoline.ts";
import { execOps } from "../../lib/container/exec.ts";
import { exitCodeOf } from "../../lib/container/exit_status.ts";
import { spawnPlan } from "./spawn_plan.ts";

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

const t = loadTrampolineFromBytes(Deno.readFileSync(TRAMPOLINE_URL));

const spawn = (plan: Op[]) => spawnPlan(t, plan);

const WAIT: Op = { call: "wait_sync", args: [], label: "wait" };

Deno.test("trampoline: a child whose runtime goes away before releasing it exits", async () => {
  const child = t.spawn(
    0,
    encodePlan([WAIT, { call: "execve", args: ["/bin/true", ["true"], []], label: "e" }]),
    -1,
  );
  t.close(child.syncFd);
  assert.equal((await t.readFull(child.errorFd, 8)).length, 0);
  t.close(child.errorFd);
  assert.equal(exitCodeOf(await t.wait(child.pid)), 125);
});

Deno.test("trampoline from memfd: the child waits, then execs the command", async () => {
  const r = await spawn([
    WAIT,
    { call: "execve", args: ["/bin/sh", ["sh", "-c", "exit 3"], []], label: "exec", exec: true },
  ]);
  assert.equal(r.failed, null);
  assert.equal(r.code, 3);
});

Deno.test("trampoline: a failing op reports its index and errno", async () => {
  const r = await spawn([
    WAIT,
    { call: "chdir", args: ["/nonexistent/dir"], label: "chdir" },
    { call: "execve", args: ["/bin/true", ["true"], []], label: "exec", exec: true },
  ]);
  assert.deepEqual(r.failed, { op: 1, errno: 2 });
  assert.equal(r.code, 125);
});

Deno.test("trampoline: tolerated errnos continue; EACCES on the way beats a final ENOENT", async () => {
  const plain = Deno.makeTempFileSync();
  Deno.chmodSync(plain, 0o644);
  const r = await spawn([
    WAIT,
    { call: "mkdirat", args: [K.AT_FDCWD, "/", 0o755], label: "mkdir /", tolerate: ["EEXIST"] },
    {
      call: "execve",
      args: [plain, ["x"], []],
      label: "e1",
      exec: true,
      tolerate: ["EACCES"],
    },
    { call: "execve", args: ["/nonexistent", ["x"], []], label: "e2", exec: true },
  ]);
  Deno.removeSync(plain);
  assert.deepEqual(r.failed, { op: 3, errno: 13 });
});

// The exec helper (ffi/exec_helper.c): what a plan's command is executed
// through so that it never starts from the runtime's binary.
Deno.test("trampoline: through the sealed exec helper, a command runs and fails exactly as by execve", async () => {
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/plain`, "");
  Deno.chmodSync(`${dir}/plain`, 0o644);
  Deno.writeTextFileSync(`${dir}/script`, "#!/bin/sh\nexit 7\n");
  Deno.chmodSync(`${dir}/script`, 0o755);
  const path = `PATH=/nonexistent:${dir}:/also/nonexistent`;
  const helper: Op = { call: "exec_helper", args: [execHelperFd()], label: "name the exec helper" };
  try {
    const cases: [string[], string[]][] = [
      [["/bin/sh", "-c", "exit 3"], []],
      [["script"], [path]],
      [["plain"], [path]],
      [["nosuch"], [path]],
      [["/nonexistent/x"], []],
      [[dir], []],
      [[`${dir}/plain/x`], []],
    ];
    for (const [args, env] of cases) {
      const plain = await spawn([WAIT, helper, ...execOps(args, env)]);
      const sealed = await spawn([WAIT, helper, ...execOps(args, env, true)]);
      // One op more in front of the candidates: their indices move by one.
      const moved = plain.failed ? { ...plain.failed, op: plain.failed.op + 1 } : null;
      assert.deepEqual(sealed.failed, moved, args.join(" "));
      assert.equal(sealed.code, plain.code, args.join(" "));
    }
    // What the command starts as is the helper, never this runtime: /proc/self/exe
    // run as the command is the helper again, which refuses an argv not its own.
    const self = await spawn([WAIT, helper, ...execOps(["/proc/self/exe", "--version"], [], true)]);
    assert.equal(self.failed, null);
    assert.equal(self.code, 127);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("trampoline: results feed later ops (open, write, close)", async () => {
  const file = Deno.makeTempFileSync();
  try {
    const r = await spawn([
      WAIT,
      { call: "openat", args: [K.AT_FDCWD, file, K.O_WRONLY | K.O_CLOEXEC, 0], label: "open" },
      { call: "write", args: [{ ref: 1 }, new TextEncoder().encode("written"), 7], label: "write" },
      { call: "close", args: [{ ref: 1 }], label: "close" },
      { call: "execve", args: ["/bin/true", ["true"], []], label: "exec", exec: true },
    ]);
    assert.equal(r.failed, null);
    assert.equal(Deno.readTextFileSync(file), "written");
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("trampoline: init reaps and passes on the command's status", async () => {
  const r = await spawn([
    WAIT,
    { call: "reset_signals", args: [], label: "reset" },
    { call: "init", args: [], label: "init" },
    { call: "rt_sigprocmask", args: [K.SIG_SETMASK, new Uint8Array(8), null, 8], label: "unblock" },
    {
      call: "execve",
      args: ["/bin/sh", ["sh", "-c", "kill -9 $$"], []],
      label: "exec",
      exec: true,
    },
  ]);
  assert.equal(r.failed, null);
  assert.equal(r.code, 137);
});

/**
 * A root planted with escapes: absolute and relative symlinks out of it, a
 * loop, a dangling link, a magic link. Every resolution must stay inside.
 */
function hostileRoot(): { base: string; root: string } {
  const base = Deno.makeTempDirSync();
  const root = `${base}/root`;
  Deno.mkdirSync(`${root}/etc`, { recursive: true });
  Deno.mkdirSync(`${base}/outside`);
  Deno.writeTextFileSync(`${root}/etc/app.conf`, "in");
  Deno.symlinkSync("/", `${root}/abs`);
  Deno.symlinkSync("../../../..", `${root}/up`);
  Deno.symlinkSync(`${base}/outside`, `${root}/host`);
  Deno.symlinkSync("/etc/app.conf", `${root}/conf`);
  Deno.symlinkSync("loop2", `${root}/loop1`);
  Deno.symlinkSync("loop1", `${root}/loop2`);
  Deno.symlinkSync("/nowhere/x", `${root}/dangling`);
  Deno.symlinkSync("/proc/self/fd/0", `${root}/magic`);
  return { base, root };
}

/** Opens `path` in `root` with open_in_root `flags`, then makes a directory `mark` in what it got. */
function inRoot(root: string, path: string, flags: number, mark: string): Op[] {
  return [
    WAIT,
    {
      call: "openat",
      args: [K.AT_FDCWD, root, K.O_PATH | K.O_DIRECTORY | K.O_CLOEXEC],
      label: "open root",
    },
    { call: "open_in_root", args: [{ ref: 1 }, path, flags], label: "resolve" },
    { call: "mkdirat", args: [{ ref: 2 }, mark, 0o755], label: "mark" },
    { call: "execve", args: ["/bin/true", ["true"], []], label: "exec", exec: true },
  ];
}

for (const mode of ["openat2", "component walk"]) {
  const walk = mode === "openat2" ? 0 : IN_ROOT.WALK;
  Deno.test(`trampoline: open_in_root (${mode}) keeps symlinks and .. inside the root`, async () => {
    const { base, root } = hostileRoot();
    try {
      const cases: [string, string][] = [
        ["abs", root],
        ["up", root],
        ["abs/up/abs/etc", `${root}/etc`],
        ["up/etc/../abs/up/etc", `${root}/etc`],
      ];
      for (const [k, [path, expect]] of cases.entries()) {
        const flags = IN_ROOT.MKDIR | walk;
        const r = await spawn(inRoot(root, path, flags, `m${k}`));
        assert.equal(r.failed, null, path);
        assert.ok(Deno.statSync(`${expect}/m${k}`).isDirectory, `${path} -> ${expect}`);
      }
      assert.deepEqual([...Deno.readDirSync(`${base}/outside`)], []);
      assert.deepEqual([...Deno.readDirSync(base)].map((e) => e.name).sort(), ["outside", "root"]);
    } finally {
      Deno.removeSync(base, { recursive: true });
    }
  });

  Deno.test(`trampoline: open_in_root (${mode}) creates files and directories, refuses loops and magic links`, async () => {
    const { base, root } = hostileRoot();
    try {
      // A missing file target under missing directories, through a link to the root.
      const file = await spawn([
        ...inRoot(root, "abs/a/b/file", IN_ROOT.MKDIR | IN_ROOT.FILE | walk, "x").slice(0, 3),
        { call: "execve", args: ["/bin/true", ["true"], []], label: "exec", exec: true },
      ]);
      assert.equal(file.failed, null);
      assert.ok(Deno.statSync(`${root}/a/b/file`).isFile);
      // An existing file through an absolute link: the link is followed in the root.
      const conf = await spawn(inRoot(root, "conf", 0 | walk, "x"));
      assert.deepEqual(conf.failed, { op: 3, errno: 20 }); // mkdirat in a file: ENOTDIR
      assert.deepEqual((await spawn(inRoot(root, "loop1/x", IN_ROOT.MKDIR | walk, "x"))).failed, {
        op: 2,
        errno: 40,
      });
      assert.deepEqual((await spawn(inRoot(root, "missing", walk, "x"))).failed, {
        op: 2,
        errno: 2,
      });
      // Never created through a dangling link (openat2 refuses it; the walk does the same).
      for (const path of ["host", "host/x", "dangling/y", "abs/host/z"]) {
        const r = await spawn(inRoot(root, path, IN_ROOT.MKDIR | walk, "x"));
        assert.deepEqual(r.failed, { op: 2, errno: 40 }, path);
      }
      assert.ok(!existsSync(`${root}/nowhere`) && !existsSync(`${root}${base}`));
      if (!walk) {
        // A magic link would hand over whatever fd the runtime holds: refused
        // (the host's own /proc, here, with "/" as the root).
        const magic = await spawn(inRoot("/", "proc/self/cwd", 0, "x"));
        assert.deepEqual(magic.failed, { op: 2, errno: 40 });
      }
      assert.deepEqual([...Deno.readDirSync(`${base}/outside`)], []);
    } finally {
      Deno.removeSync(base, { recursive: true });
    }
  });
}

Deno.test("trampoline: an op referring to a tolerated failure is skipped; fd_path names an fd", async () => {
  const file = Deno.makeTempFileSync();
  try {
    const r = await spawn([
      WAIT,
      {
        call: "openat",
        args: [K.AT_FDCWD, "/nonexistent", K.O_RDONLY],
        label: "open missing",
        tolerate: ["ENOENT"],
      },
      { call: "close", args: [{ ref: 1 }], label: "skipped: would fail with EBADF" },
      { call: "openat", args: [K.AT_FDCWD, file, K.O_PATH | K.O_CLOEXEC], label: "open" },
      { call: "fd_path", args: [new Uint8Array(32), { ref: 3 }], label: "name" },
      { call: "openat", args: [K.AT_FDCWD, { ref: 4 }, K.O_WRONLY], label: "reopen by fd path" },
      { call: "write", args: [{ ref: 5 }, new TextEncoder().encode("via fd"), 6], label: "write" },
      { call: "execve", args: ["/bin/true", ["true"], []], label: "exec", exec: true },
    ]);
    assert.equal(r.failed, null);
    assert.equal(Deno.readTextFileSync(file), "via fd");
  } finally {
    Deno.removeSync(file);
  }
});

// The OCI hook op (createContainer/startContainer hooks): fork, the state
// memfd on stdin from its start, its args and env only, its wait status,
// its timeout, and its failure written to a report fd for `start`.
function stateMemfd(text: string): number {
  const fd = libc().memfd_create(new TextEncoder().encode("state\0"), 1);
  assert.ok(fd >= 0);
  writeAll(fd, new TextEncoder().encode(text));
  return fd;
}

const hookOp = (script: string, stateFd: number, timeout = 0, report: number = -1): Op => ({
  call: "hook",
  args: [
    "/bin/sh",
    execHelperArgv([{ path: "/bin/sh", tolerated: false }], ["sh", "-c", script, "arg0"], true),
    ["FOO=bar"],
    stateFd,
    timeout,
    report,
  ],
  label: "createContainer hook /bin/sh",
});

/** Hooks are executed through the exec helper this op names. */
const HELPER: Op = { call: "exec_helper", args: [execHelperFd()], label: "name the exec helper" };

const TRUE: Op = { call: "execve", args: ["/bin/true", ["true"], []], label: "exec", exec: true };

Deno.test("trampoline: a hook reads the state on stdin (each hook from its start), gets its args and env", async () => {
  const out = Deno.makeTempFileSync();
  const state = stateMemfd('{"id":"c1","status":"creating"}');
  try {
    const script = `cat >> ${out}; echo " $0 $FOO $HOME" >> ${out}`;
    const r = await spawn([WAIT, HELPER, hookOp(script, state), hookOp(script, state), TRUE]);
    assert.deepEqual(r.failed, null);
    assert.equal(r.code, 0);
    const line = '{"id":"c1","status":"creating"} arg0 bar \n';
    assert.equal(Deno.readTextFileSync(out), line + line);
  } finally {
    closeFd(state);
    Deno.removeSync(out);
  }
});

Deno.test("trampoline: a failing hook fails its op with its wait status, or its errno when not executable", async () => {
  const state = stateMemfd("{}");
  try {
    const r = await spawn([WAIT, HELPER, hookOp("exit 3", state), TRUE]);
    assert.deepEqual(r.failed, { op: 2, errno: HOOK_FAILED.STATUS | (3 << 8) });
    assert.equal(r.code, 125);
    const killed = await spawn([WAIT, HELPER, hookOp("kill -9 $$", state), TRUE]);
    assert.deepEqual(killed.failed, { op: 2, errno: HOOK_FAILED.STATUS | 9 });
    const missing = await spawn([
      WAIT,
      HELPER,
      {
        ...hookOp("", state),
        args: [
          "/nonexistent/hook",
          execHelperArgv([{ path: "/nonexistent/hook", tolerated: false }], ["x"], true),
          [],
          state,
          0,
          -1,
        ],
      },
      TRUE,
    ]);
    assert.deepEqual(missing.failed, { op: 2, errno: 2 });
  } finally {
    closeFd(state);
  }
});

Deno.test("trampoline: a hook past its timeout is killed (SIGALRM and SIGTERM ignored or not) and reported", async () => {
  const state = stateMemfd("{}");
  const [reportR, reportW] = pipe();
  try {
    const r = await spawn([
      WAIT,
      HELPER,
      hookOp("trap '' ALRM TERM; sleep 30", state, 1, reportW),
      TRUE,
    ]);
    assert.deepEqual(r.failed, { op: 2, errno: HOOK_FAILED.TIMEOUT });
    closeFd(reportW);
    const record = await t.readFull(reportR, 64);
    assert.equal(record[0], "E".charCodeAt(0));
    assert.equal(
      new DataView(record.buffer, record.byteOffset + 1, 4).getInt32(0, true),
      HOOK_FAILED.TIMEOUT,
    );
    assert.equal(new TextDecoder().decode(record.subarray(5)), "/bin/sh");
  } finally {
    closeFd(state);
    closeFd(reportR);
  }
});
