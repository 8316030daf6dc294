/**
 * `minicontainer network create|ls|inspect|rm|prune`: the CNI networks of
 * the data directory (lib/net/networks.ts).
 * @module
 */

import { ContainerError, usageError } from "../errors.ts";
import { networksInUse, reclaimDeadNetworks } from "../net/attach.ts";
import {
  createNetwork,
  findNetwork,
  listNetworks,
  type NetPaths,
  netPaths,
  type Network,
  removeNetworkFiles,
  withNetworksLock,
} from "../net/networks.ts";
import { dataDir } from "../rootfs/default.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";

const CREATE_FLAGS: FlagDef[] = [
  { name: "subnet", value: true, meta: "CIDR", help: "IPv4 subnet (default: a free one)" },
  { name: "gateway", value: true, meta: "IP", help: "Gateway (default: the subnet's first host)" },
  { name: "help", help: "Show this help" },
];
const LS_FLAGS: FlagDef[] = [
  { name: "quiet", short: "q", help: "Only names" },
  { name: "format", value: true, meta: "json", help: "Print JSON" },
  { name: "help", help: "Show this help" },
];

const HELP = `Usage: minicontainer network COMMAND

Manage CNI networks (bridge + host-local + portmap + firewall + tuning, run
by the reference plugins; a .conflist of your own in the networks directory
works too).

Commands:
  create [--subnet CIDR] [--gateway IP] NAME   make a bridge network
  ls [-q] [--format json]                      list networks
  inspect NAME...                              show networks as JSON
  rm NAME...                                   remove networks no container uses
  prune                                        remove every unused network`;

function paths(): NetPaths {
  return netPaths(dataDir());
}

function view(n: Network, users: string[] = []) {
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created ?? null,
    Driver: n.driver,
    Subnet: n.subnet ?? null,
    Gateway: n.gateway ?? null,
    Bridge: n.bridge ?? null,
    Managed: n.managed,
    File: n.file,
    Containers: users,
    Config: n.conflist,
  };
}

/** Removes `net` unless a live container uses it. */
async function remove(p: NetPaths, net: Network, used: Map<string, string[]>): Promise<void> {
  const users = used.get(net.name);
  if (users?.length) {
    throw new ContainerError(
      "network rm",
      net.name,
      undefined,
      `containers use it: ${users.map((u) => u.slice(0, 12)).join(", ")}`,
    );
  }
  await removeNetworkFiles(p, net);
}

/** The `network` command. */
export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const p = paths();
  switch (sub) {
    case "create": {
      const { flags, rest: names } = parseArgs(rest, CREATE_FLAGS);
      if (flags.help) {
        console.log(
          `Usage: minicontainer network create [OPTIONS] NAME\n\n${flagHelp(CREATE_FLAGS)}`,
        );
        return 0;
      }
      if (names.length !== 1) throw usageError("network create needs one NAME");
      const net = await createNetwork(p, {
        name: names[0],
        subnet: flags.subnet as string | undefined,
        gateway: flags.gateway as string | undefined,
      });
      console.log(net.id);
      return 0;
    }
    case "ls":
    case "list": {
      const { flags } = parseArgs(rest, LS_FLAGS);
      const nets = listNetworks(p);
      if (flags.quiet) nets.forEach((n) => console.log(n.name));
      else if (flags.format === "json") console.log(JSON.stringify(nets.map((n) => view(n))));
      else {
        const rows = [["NETWORK ID", "NAME", "DRIVER", "SUBNET"]];
        for (const n of nets) rows.push([n.id.slice(0, 12), n.name, n.driver, n.subnet ?? ""]);
        const w = rows[0].map((_, k) => Math.max(...rows.map((r) => r[k].length)) + 3);
        for (const r of rows) console.log(r.map((c, k) => c.padEnd(w[k])).join("").trimEnd());
      }
      return 0;
    }
    case "inspect": {
      if (!rest.length) throw usageError("network inspect needs a network name");
      const used = networksInUse(p.containersDir);
      const out = rest.map((name) => view(findNetwork(p, name), used.get(name)));
      console.log(JSON.stringify(out, null, 2));
      return 0;
    }
    case "rm":
    case "remove": {
      if (!rest.length) throw usageError("network rm needs a network name");
      await reclaimDeadNetworks(p.containersDir);
      await withNetworksLock(p, async () => {
        const used = networksInUse(p.containersDir);
        for (const name of rest) {
          await remove(p, findNetwork(p, name), used);
          console.log(name);
        }
      });
      return 0;
    }
    case "prune": {
      // Networks of containers whose runtime was killed are freed first.
      await reclaimDeadNetworks(p.containersDir);
      await withNetworksLock(p, async () => {
        const used = networksInUse(p.containersDir);
        for (const net of listNetworks(p)) {
          if (!net.managed || used.get(net.name)?.length) continue;
          await remove(p, net, used);
          console.log(net.name);
        }
      });
      return 0;
    }
    case undefined:
    case "--help":
    case "help":
      console.log(HELP);
      return sub === undefined ? 125 : 0;
    default:
      throw usageError(`unknown network command "${sub}"; see 'minicontainer network --help'`);
  }
}
