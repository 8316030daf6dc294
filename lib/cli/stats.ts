/**
 * `minicontainer stats [-a] [--no-stream] [--format json] [NAME...]`:
 * docker's columns (CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O,
 * PIDS) from each running container's cgroups (lib/cgroups/usage.ts), CPU %
 * over the last interval as a share of one CPU; refreshed every second
 * until interrupted, or printed once with --no-stream.
 * @module
 */

import { type Usage, usageOf } from "../cgroups/usage.ts";
import { liveStatus } from "../container/lifecycle.ts";
import { ContainerError, usageError } from "../errors.ts";
import { binarySize, decimalSize } from "../state/disk_usage.ts";
import { type ContainerState, StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { print } from "./output.ts";

const FLAGS: FlagDef[] = [
  { name: "all", short: "a", help: "Every container (stopped ones show zeros)" },
  { name: "no-stream", help: "Print one sample and end" },
  { name: "format", value: true, meta: "table|json", help: "Output format (default table)" },
  { name: "no-trunc", help: "Whole ids" },
  { name: "help", help: "Show this help" },
];

/** Bytes in and out of the container's network namespace (every interface but lo). */
function netIO(pid: number): [number, number] {
  let rx = 0, tx = 0;
  try {
    for (const line of Deno.readTextFileSync(`/proc/${pid}/net/dev`).split("\n").slice(2)) {
      const [name, rest] = line.split(":");
      if (!rest || name.trim() === "lo") continue;
      const f = rest.trim().split(/\s+/).map(Number);
      rx += f[0];
      tx += f[8];
    }
  } catch { /* gone */ }
  return [rx, tx];
}

interface Sample {
  state: ContainerState;
  usage?: Usage;
  net: [number, number];
  at: number;
}

function sample(state: ContainerState): Sample {
  const running = liveStatus(state) === "running" && state.pid;
  let usage: Usage | undefined;
  if (running) {
    try {
      usage = usageOf(state.pid!);
    } catch { /* exited meanwhile */ }
  }
  return { state, usage, net: running ? netIO(state.pid!) : [0, 0], at: performance.now() };
}

function row(prev: Sample, now: Sample, trunc: boolean) {
  const u = now.usage;
  const cpu = u && prev.usage
    ? Math.max(0, (u.cpuNs - prev.usage.cpuNs) / ((now.at - prev.at) * 1e6) * 100)
    : 0;
  const limit = u?.memoryLimitBytes ?? Deno.systemMemoryInfo().total;
  const mem = u?.memoryBytes ?? 0;
  return {
    ID: trunc ? now.state.id.slice(0, 12) : now.state.id,
    Name: now.state.name,
    CPUPerc: `${cpu.toFixed(2)}%`,
    // docker's units: binary for memory, decimal to 3 digits for I/O.
    MemUsage: `${binarySize(mem)} / ${binarySize(limit)}`,
    MemPerc: `${(limit ? mem / limit * 100 : 0).toFixed(2)}%`,
    NetIO: `${decimalSize(now.net[0], 3)} / ${decimalSize(now.net[1], 3)}`,
    BlockIO: `${decimalSize(u?.blockReadBytes ?? 0, 3)} / ${
      decimalSize(u?.blockWriteBytes ?? 0, 3)
    }`,
    PIDs: String(u?.pids ?? 0),
  };
}

/** The `stats` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer stats [OPTIONS] [NAME...]\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  const format = (flags.format as string | undefined) ?? "table";
  if (format !== "table" && format !== "json") {
    throw usageError(`--format must be table or json, not "${format}"`);
  }
  const store = new StateStore(globalOptions.stateRoot);
  const ids = rest.length ? rest.map((r) => store.resolve(r)) : store.ids();
  const states = ids.map((id, k) => {
    const s = store.read(id);
    if (!s) throw new ContainerError("stats", rest[k] ?? id, undefined, "no such container");
    return s;
  }).filter((s) => rest.length || flags.all || liveStatus(s) === "running");
  const trunc = flags["no-trunc"] !== true;
  let prev = states.map(sample);
  const once = flags["no-stream"] === true || !Deno.stdout.isTerminal();
  for (;;) {
    await new Promise((r) => setTimeout(r, once ? 500 : 1000));
    const now = states.map(sample);
    const rows = now.map((s, k) => row(prev[k], s, trunc));
    if (!once) await Deno.stdout.write(new TextEncoder().encode("\x1b[2J\x1b[H"));
    if (format === "json") rows.forEach((r) => print(JSON.stringify(r)));
    else {
      const table = [
        [
          "CONTAINER ID",
          "NAME",
          "CPU %",
          "MEM USAGE / LIMIT",
          "MEM %",
          "NET I/O",
          "BLOCK I/O",
          "PIDS",
        ],
        ...rows.map((
          r,
        ) => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs]),
      ];
      const widths = table[0].map((_, k) => Math.max(...table.map((r) => r[k].length)) + 3);
      for (const r of table) {
        print(r.map((c, k) => k === r.length - 1 ? c : c.padEnd(widths[k])).join(""));
      }
    }
    if (once) return 0;
    prev = now;
  }
}
