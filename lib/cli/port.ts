/**
 * `minicontainer port CONTAINER [PRIVATE[/PROTO]]`: the ports a container
 * publishes, as docker prints them ("80/tcp -> 0.0.0.0:8080").
 * @module
 */

import { ContainerError, usageError } from "../errors.ts";
import { readRecord } from "../net/attach.ts";
import { formatMapping } from "../net/ports.ts";
import { StateStore } from "../state/store.ts";
import { globalOptions } from "./global.ts";

/** The `port` command. */
export function main(argv: string[]): Promise<number> {
  if (argv[0] === "--help") {
    console.log("Usage: minicontainer port CONTAINER [PORT[/PROTO]]\n\nList published ports.");
    return Promise.resolve(0);
  }
  if (argv.length < 1 || argv.length > 2) throw usageError("port needs CONTAINER [PORT[/PROTO]]");
  const store = new StateStore(globalOptions.stateRoot);
  const state = store.read(store.resolve(argv[0]));
  if (!state) throw new ContainerError("find container", argv[0], undefined, "no such container");
  const setup = state.net?.setup;
  const ports = (setup && readRecord(setup.dir)?.ports) ?? [];
  const [want, proto = "tcp"] = (argv[1] ?? "").split("/");
  const shown = ports.filter((m) =>
    !want || (String(m.containerPort) === want && m.protocol === proto)
  );
  if (want && !shown.length) {
    throw new ContainerError("port", argv[1], undefined, `${argv[0]} does not publish it`);
  }
  for (const m of shown) {
    console.log(want ? `${m.hostIP ?? "0.0.0.0"}:${m.hostPort}` : formatMapping(m));
  }
  return Promise.resolve(0);
}
