/**
 * `minicontainer top CONTAINER [ps OPTIONS]`: the container's processes, as
 * docker shows them: the host's ps (default `-ef`) cut to the processes in
 * the container's PID namespace (host pids, as docker prints).
 * @module
 */

import { liveStatus } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { globalOptions } from "./global.ts";
import { print } from "./output.ts";

/** Host pids of every process in the PID namespace of `pid`. */
function namespacePids(pid: number): Set<number> {
  const ns = Deno.readLinkSync(`/proc/${pid}/ns/pid`);
  const found = new Set<number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readLinkSync(`/proc/${e.name}/ns/pid`) === ns) found.add(Number(e.name));
    } catch { /* gone meanwhile */ }
  }
  return found;
}

/** The `top` command. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--help" || argv[0] === "-h") {
    print(
      "Usage: minicontainer top CONTAINER [ps OPTIONS]\n\nShow a container's processes (ps -ef unless OPTIONS say).",
    );
    return 0;
  }
  if (!argv.length) throw usageError("top needs a container name or id");
  const [ref, ...psArgs] = argv;
  const store = new StateStore(globalOptions.stateRoot);
  const state = store.read(store.resolve(ref));
  if (!state) throw new ContainerError("top", ref, undefined, "no such container");
  if (liveStatus(state) !== "running" || !state.pid) {
    throw new ContainerError("top", ref, undefined, "the container is not running");
  }
  const pids = namespacePids(state.pid);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ps", { args: psArgs.length ? psArgs : ["-ef"], stdin: "null" })
      .output();
  } catch (e) {
    throw new ContainerError(
      "top",
      "ps",
      undefined,
      `cannot run the host's ps: ${(e as Error).message}`,
    );
  }
  const lines = new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
  if (out.code !== 0 || !lines.length) {
    throw new ContainerError(
      "top",
      ref,
      undefined,
      `ps ${psArgs.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  const column = lines[0].trim().split(/\s+/).indexOf("PID");
  if (column < 0) throw new ContainerError("top", ref, undefined, "ps printed no PID column");
  print(lines[0]);
  for (const line of lines.slice(1)) {
    if (pids.has(Number(line.trim().split(/\s+/)[column]))) print(line);
  }
  return 0;
}
