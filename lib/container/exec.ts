/**
 * Running the user's command: the execve ops (one per PATH entry when the
 * command has no slash, as execvp does) and what their failure means.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { ERRNO } from "../../ffi/syscalls.ts";
import { ContainerError } from "../errors.ts";
import { DEFAULT_PATH } from "./default_spec.ts";

/** Exit status when the command does not exist (shells' and docker's 127). */
export const EXIT_NOT_FOUND = 127;
/** Exit status when the command exists but cannot be executed (126). */
export const EXIT_NOT_EXECUTABLE = 126;

/** The execve ops for `args` with `env`; the last one alone may fail the plan. */
export function execOps(args: readonly string[], env: readonly string[]): Op[] {
  const command = args[0];
  if (command.includes("/")) {
    return [{ call: "execve", args: [command, args, env], label: `execve ${command}`, exec: true }];
  }
  const pathVar = env.find((kv) => kv.startsWith("PATH="))?.slice(5) ?? DEFAULT_PATH;
  const dirs = pathVar.split(":").map((d) => d || ".");
  return dirs.map((dir, i) => ({
    call: "execve",
    args: [`${dir}/${command}`, args, env],
    label: `execve ${dir}/${command}`,
    exec: true,
    tolerate: i < dirs.length - 1 ? ["ENOENT", "ENOTDIR", "EACCES"] : undefined,
  }));
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
