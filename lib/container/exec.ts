/**
 * Running the user's command: the execve ops (one per PATH entry when the
 * command has no slash, as execvp does) and what their failure means.
 * @module
 */

import { execHelperArgv, type Op } from "../../ffi/plan.ts";
import { ERRNO } from "../../ffi/syscalls.ts";
import { ContainerError } from "../errors.ts";
import { DEFAULT_PATH } from "./default_spec.ts";

/** Exit status when the command does not exist (shells' and docker's 127). */
export const EXIT_NOT_FOUND = 127;
/** Exit status when the command exists but cannot be executed (126). */
export const EXIT_NOT_EXECUTABLE = 126;

/**
 * The execve ops for `args` with `env`; the last one alone may fail the
 * plan. `sealed` (a plan with an exec_helper op): they are made by the exec
 * helper, run first from its sealed memfd, so that the command never
 * starts as a copy of the runtime's binary (see ffi/exec_helper.c); their
 * failures are reported by their index all the same.
 */
export function execOps(args: readonly string[], env: readonly string[], sealed = false): Op[] {
  const command = args[0];
  const candidates = command.includes("/")
    ? [{ path: command, tolerated: false }]
    : (env.find((kv) => kv.startsWith("PATH="))?.slice(5) ?? DEFAULT_PATH).split(":")
      .map((d, i, all) => ({ path: `${d || "."}/${command}`, tolerated: i < all.length - 1 }));
  const ops: Op[] = candidates.map((c) => ({
    call: "execve",
    args: [c.path, args, env],
    label: `execve ${c.path}`,
    exec: true,
    tolerate: c.tolerated ? ["ENOENT", "ENOTDIR", "EACCES"] : undefined,
  }));
  if (!sealed) return ops;
  return [{
    call: "sealed_exec",
    args: [execHelperArgv(candidates, args), env],
    label: `execute ${command} through the sealed exec helper`,
  }, ...ops];
}

/** The error for an exec op that failed with `errno`, with docker's exit codes. */
export function execError(command: string, errno: number): ContainerError {
  const searched = !command.includes("/");
  if (errno === ERRNO.ENOENT || (searched && errno === ERRNO.ENOTDIR)) {
    return new ContainerError(
      "exec",
      JSON.stringify(command),
      errno,
      searched ? "executable file not found in $PATH" : undefined,
      EXIT_NOT_FOUND,
    );
  }
  const cannotRun: number[] = [
    ERRNO.EACCES,
    ERRNO.ENOEXEC,
    ERRNO.EISDIR,
    ERRNO.ENOTDIR,
    ERRNO.EPERM,
  ];
  return new ContainerError(
    "exec",
    JSON.stringify(command),
    errno,
    undefined,
    cannotRun.includes(errno) ? EXIT_NOT_EXECUTABLE : undefined,
  );
}
