/**
 * `minicontainer ps [-a] [--format json]` (alias `list`): containers, with
 * their status checked against the kernel.
 * @module
 */

import { print } from "./output.ts";
import { withLiveStatus } from "../container/lifecycle.ts";
import { usageError } from "../errors.ts";
import { type ContainerState, StateStore, type UnreadableState } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";

const FLAGS: FlagDef[] = [
  { name: "all", short: "a", help: "Show exited containers too" },
  { name: "format", value: true, meta: "table|json", help: "Output format (default table)" },
  { name: "quiet", short: "q", help: "Only ids" },
  { name: "help", help: "Show this help" },
];

function ago(iso: string | undefined): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} seconds ago`;
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.round(s / 3600)} hours ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** Stands for a container whose state cannot be read, in listings. */
const UNREADABLE = Symbol("unreadable");

function unreadableEntry(u: UnreadableState): ContainerState {
  let created = "";
  try {
    created = Deno.statSync(`${globalOptions.stateRoot}/${u.id}`).mtime?.toISOString() ?? "";
  } catch { /* gone meanwhile */ }
  return Object.assign(
    {
      id: u.id,
      name: u.name,
      status: "unknown",
      created,
      command: [],
    } as unknown as ContainerState,
    { [UNREADABLE]: u.reason },
  );
}

/** docker's STATUS column. */
export function statusText(s: ContainerState): string {
  if (UNREADABLE in s) return "unknown (state unreadable)";
  if (s.status === "running") return `Up ${ago(s.started).replace(" ago", "")}`;
  if (s.status === "exited") return `Exited (${s.exitCode}) ${ago(s.finished)}`;
  if (s.status === "unknown") return "Exited (unknown): its monitor (or run) is gone";
  return "Created";
}

/** The `ps` command. */
export function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer ps [OPTIONS]\n\nList containers.\n\nOptions:\n${flagHelp(FLAGS)}`,
    );
    return Promise.resolve(0);
  }
  if (rest.length) throw usageError(`ps takes no arguments, not "${rest[0]}"`);
  const format = (flags.format as string | undefined) ?? "table";
  if (format !== "table" && format !== "json") {
    throw usageError(`--format must be table or json, not "${format}"`);
  }
  const store = new StateStore(globalOptions.stateRoot);
  const states = store.ids()
    .map((id) => {
      const got = store.readOrWhy(id);
      if ("state" in got) return got.state;
      // Listed all the same, so that rm -f can remove it.
      if ("reason" in got) return unreadableEntry(got);
      return undefined;
    })
    .filter((s): s is ContainerState => s !== undefined)
    .map(withLiveStatus)
    .filter((s) => flags.all || s.status === "running")
    .sort((a, b) => b.created.localeCompare(a.created));
  if (flags.quiet) {
    for (const s of states) print(s.id.slice(0, 12));
  } else if (format === "json") {
    for (const s of states) {
      print(JSON.stringify({
        ID: s.id.slice(0, 12),
        Names: s.name,
        Command: s.command.join(" "),
        CreatedAt: s.created,
        State: s.status,
        Status: statusText(s),
        Pid: s.status === "running" ? s.pid : undefined,
      }));
    }
  } else {
    const rows = [["CONTAINER ID", "COMMAND", "CREATED", "STATUS", "NAMES"]];
    for (const s of states) {
      const cmd = s.command.join(" ");
      rows.push([
        s.id.slice(0, 12),
        `"${cmd.length > 20 ? cmd.slice(0, 19) + "…" : cmd}"`,
        ago(s.created),
        statusText(s),
        s.name,
      ]);
    }
    const widths = rows[0].map((_, k) => Math.max(...rows.map((r) => r[k].length)) + 3);
    for (const r of rows) {
      print(r.map((c, k) => k === r.length - 1 ? c : c.padEnd(widths[k])).join(""));
    }
  }
  return Promise.resolve(0);
}
