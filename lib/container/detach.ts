/**
 * Detached containers: `run -d` starts a supervisor process, in a session of
 * its own and with no terminal, that runs the container, logs its output,
 * keeps its exit status and cleans up. The launcher waits only until the
 * supervisor says the command started (or why it did not).
 * @module
 */

import { pipe, readSome } from "../../ffi/io.ts";
import { encodePlan, type Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { ContainerError } from "../errors.ts";

/** The command line that runs this program again with `args`. */
export function selfCommand(args: string[]): string[] {
  const exe = Deno.execPath();
  if (exe.split("/").pop() === "deno") {
    const main = new URL(Deno.mainModule).pathname;
    const config = new URL("../../deno.json", import.meta.url).pathname;
    return [exe, "run", "--allow-all", "--quiet", "--config", config, main, ...args];
  }
  return [exe, ...args];
}

/**
 * Starts `argv` as a daemon: new session, stdin /dev/null, stdout and
 * stderr appended to `logPath`, and the write end of a pipe as fd 3 on
 * which it reports. Resolves to what it wrote there before closing it.
 */
export async function startDaemon(argv: string[], logPath: string): Promise<string> {
  const [readyR, readyW] = pipe();
  const env = Object.entries(Deno.env.toObject()).map(([k, v]) => `${k}=${v}`);
  const plan: Op[] = [
    { call: "wait_sync", args: [], label: "wait" },
    { call: "setsid", args: [], label: "start a session" },
    { call: "reset_signals", args: [], label: "reset signal handlers" },
    {
      call: "rt_sigprocmask",
      args: [K.SIG_SETMASK, new Uint8Array(8), null, 8],
      label: "unblock signals",
    },
    { call: "chdir", args: ["/"], label: "chdir /" },
    {
      call: "openat",
      args: [K.AT_FDCWD, "/dev/null", K.O_RDWR | K.O_CLOEXEC, 0],
      label: "open /dev/null",
    },
    { call: "dup3", args: [{ back: 1 }, 0, 0], label: "stdin from /dev/null" },
    {
      call: "openat",
      args: [
        K.AT_FDCWD,
        logPath,
        K.O_WRONLY | K.O_CREAT | K.O_CLOEXEC | 0o2000, /* O_APPEND */
        0o600,
      ],
      label: `open ${logPath}`,
    },
    { call: "dup3", args: [{ back: 1 }, 1, 0], label: "stdout to the log" },
    { call: "dup3", args: [{ back: 2 }, 2, 0], label: "stderr to the log" },
    { call: "dup3", args: [readyW, 3, 0], label: "report pipe as fd 3" },
    {
      call: "close_range",
      args: [4, 0xffffffff, K.CLOSE_RANGE_CLOEXEC],
      label: "close-on-exec",
      tolerate: ["ENOSYS", "EINVAL"],
    },
    { call: "execve", args: [argv[0], argv, env], label: `execve ${argv[0]}`, exec: true },
  ];
  const t = trampoline();
  const child = t.spawn(0, encodePlan(plan), -1);
  t.close(readyW);
  t.release(child.syncFd);
  const record = await t.readFull(child.errorFd, 8);
  t.close(child.errorFd);
  if (record.length === 8) {
    t.close(readyR);
    await t.wait(child.pid);
    const errno = new DataView(record.buffer, record.byteOffset).getInt32(4, true);
    throw new ContainerError("start the supervisor", argv[0], errno);
  }
  // The daemon is our child until we exit; it is then re-parented to init.
  let said = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await readSome(readyR, buf);
    if (n === 0) break;
    said += new TextDecoder().decode(buf.subarray(0, n));
  }
  t.close(readyR);
  return said;
}
