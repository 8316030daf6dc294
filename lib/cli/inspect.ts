/**
 * `minicontainer inspect [-f TEMPLATE] NAME...`: the stored state as JSON
 * in docker's sections (State, Config, HostConfig, Mounts, LogPath; status
 * checked against the kernel), or one line per container through a subset of
 * docker's Go templates (lib/cli/template.ts).
 * @module
 */

import { ContainerError, usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { forEachRef } from "./each_ref.ts";
import { readRecord } from "../net/attach.ts";
import type { NetSetup } from "../net/etc_files.ts";
import { globalOptions } from "./global.ts";
import { print } from "./output.ts";
import { containerView } from "./container_view.ts";
import { parseTemplate, render } from "./template.ts";

const FLAGS: FlagDef[] = [
  {
    name: "format",
    short: "f",
    value: true,
    meta: "TEMPLATE",
    help: 'One line per container: {{.State.Pid}}, {{json .Config}}, {{index .Config.Labels "k"}}',
  },
  { name: "help", help: "Show this help" },
];

/** docker's NetworkSettings, from the container's network record while it is attached. */
function networkSettings(setup: NetSetup | undefined) {
  if (!setup) return null;
  const r = readRecord(setup.dir);
  const ip = r?.result?.ips?.find((i) => i.address.split("/")[0] === r.ip);
  const iface = ip?.interface !== undefined ? r?.result?.interfaces?.[ip.interface] : undefined;
  const ports: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const m of r?.ports ?? setup.ports ?? []) {
    (ports[`${m.containerPort}/${m.protocol}`] ??= []).push({
      HostIp: m.hostIP ?? "0.0.0.0",
      HostPort: String(m.hostPort),
    });
  }
  return {
    Mode: setup.mode,
    Ports: ports,
    HostsPath: `${setup.dir}/hosts`,
    ResolvConfPath: `${setup.dir}/resolv.conf`,
    HostnamePath: `${setup.dir}/hostname`,
    SandboxKey: r?.netns ?? null,
    Networks: setup.mode === "cni" && setup.network
      ? {
        [setup.network]: {
          IPAddress: r?.ip ?? "",
          IPPrefixLen: ip ? Number(ip.address.split("/")[1]) : 0,
          Gateway: ip?.gateway ?? "",
          MacAddress: iface?.mac ?? "",
          Aliases: setup.aliases ?? [],
        },
      }
      : {},
  };
}

/** The `inspect` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer inspect [OPTIONS] NAME|ID...\n\nShow containers' state, spec and times as JSON.\n\nOptions:\n${
        flagHelp(FLAGS)
      }`,
    );
    return 0;
  }
  if (!rest.length) throw usageError("inspect needs a container name or id");
  const format = flags.format as string | undefined;
  const template = format === undefined ? undefined : parseTemplate(format, "--format");
  const store = new StateStore(globalOptions.stateRoot);
  const out: unknown[] = [];
  const code = await forEachRef(rest, (ref) => {
    const state = store.read(store.resolve(ref));
    if (!state) throw new ContainerError("find container", ref, undefined, "no such container");
    const view = {
      ...containerView(state),
      NetworkSettings: networkSettings(state.net?.setup),
    };
    if (template !== undefined) print(render(template, view));
    else out.push(view);
  });
  if (template === undefined) print(JSON.stringify(out, null, 2));
  return code;
}
