/**
 * `minicontainer inspect NAME...`: the stored state as JSON (status checked
 * against the kernel).
 * @module
 */

import { withLiveStatus } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { globalOptions } from "./global.ts";

/** The `inspect` command. */
export function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help") {
    if (argv[0] === "--help") {
      console.log(
        "Usage: minicontainer inspect NAME|ID...\n\nShow containers' state, spec and times as JSON.",
      );
      return Promise.resolve(0);
    }
    throw usageError("inspect needs a container name or id");
  }
  const store = new StateStore(globalOptions.stateRoot);
  const out = argv.map((ref) => {
    const state = store.read(store.resolve(ref));
    if (!state) throw new ContainerError("find container", ref, undefined, "no such container");
    const s = withLiveStatus(state);
    return {
      Id: s.id,
      Name: s.name,
      Created: s.created,
      State: {
        Status: s.status,
        Running: s.status === "running",
        Pid: s.status === "running" ? s.pid : 0,
        ExitCode: s.exitCode ?? null,
        OOMKilled: s.oomKilled ?? false,
        StartedAt: s.started ?? null,
        FinishedAt: s.finished ?? null,
      },
      Command: s.command,
      LogPath: s.logPath ?? null,
      Spec: s.spec,
    };
  });
  console.log(JSON.stringify(out, null, 2));
  return Promise.resolve(0);
}
