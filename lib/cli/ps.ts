/**
 * `minicontainer ps [-a] [-q] [-l|-n N] [--no-trunc] [--filter K=V]
 * [--format table|json|TEMPLATE]` (alias `list`): containers, with their
 * status checked against the kernel, as docker's columns.
 * @module
 */

import { print } from "./output.ts";
import { withLiveStatus } from "../container/lifecycle.ts";
import { usageError } from "../errors.ts";
import { type ContainerState, StateStore, type UnreadableState } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { dockerStatus, labelsOf } from "./container_view.ts";
import { IMAGE_ANNOTATION } from "./annotations.ts";
import { parseTemplate, render } from "./template.ts";

const FLAGS: FlagDef[] = [
  { name: "all", short: "a", help: "Show exited containers too" },
  {
    name: "filter",
    short: "f",
    value: true,
    repeat: true,
    meta: "K=V",
    help: "label=K[=V], name=, id=, status=, ancestor= (each key ANDed, values ORed)",
  },
  {
    name: "format",
    value: true,
    meta: "FORMAT",
    help: "table (default), json, or a template: {{.ID}} {{.Names}} {{.Image}} {{.Status}}...",
  },
  { name: "last", short: "n", value: true, meta: "N", help: "The N newest containers (any state)" },
  { name: "latest", short: "l", help: "The newest container (any state)" },
  { name: "no-trunc", help: "Whole ids and commands" },
  { name: "quiet", short: "q", help: "Only ids" },
  { name: "help", help: "Show this help" },
];

const FILTER_KEYS = ["label", "name", "id", "status", "ancestor"];

/** `--filter` values grouped by key; an unknown key or form is a usage error. */
function parseFilters(given: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of given) {
    const eq = f.indexOf("=");
    const key = eq < 0 ? f : f.slice(0, eq);
    if (eq < 0 || !FILTER_KEYS.includes(key)) {
      throw usageError(
        `--filter "${f}" is not one of ${FILTER_KEYS.map((k) => `${k}=`).join(", ")}`,
      );
    }
    out.set(key, [...out.get(key) ?? [], f.slice(eq + 1)]);
  }
  return out;
}

function matches(s: ContainerState, filters: Map<string, string[]>): boolean {
  const one = (key: string, test: (v: string) => boolean) =>
    !filters.has(key) || filters.get(key)!.some(test);
  const labels = labelsOf(s);
  return one("label", (v) => {
    const eq = v.indexOf("=");
    return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
  }) &&
    one("name", (v) => s.name.includes(v)) &&
    one("id", (v) => s.id.startsWith(v)) &&
    one("status", (v) => dockerStatus(s) === v) &&
    one("ancestor", (v) => imageOf(s) === v || imageOf(s).split(":")[0] === v);
}

function imageOf(s: ContainerState): string {
  return s.spec?.annotations?.[IMAGE_ANNOTATION] ?? "";
}

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
  if (s.status === "running") {
    const up = `Up ${ago(s.started).replace(" ago", "")}`;
    return dockerStatus(s) === "paused" ? `${up} (Paused)` : up;
  }
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
  const template = format === "table" || format === "json"
    ? undefined
    : parseTemplate(format.replace(/^table\s+/, ""), "--format");
  const filters = parseFilters((flags.filter as string[] | undefined) ?? []);
  const lastText = flags.latest ? "1" : flags.last as string | undefined;
  if (lastText !== undefined && !/^\d+$/.test(lastText)) {
    throw usageError(`--last must be a number, not "${lastText}"`);
  }
  const trunc = flags["no-trunc"] !== true;
  const shortId = (id: string) => trunc ? id.slice(0, 12) : id;
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
    // docker: -n and -l count every container, running or not.
    .filter((s) => flags.all || lastText !== undefined || s.status === "running")
    .filter((s) => matches(s, filters))
    .sort((a, b) => b.created.localeCompare(a.created))
    .slice(0, lastText === undefined ? undefined : Number(lastText));
  const row = (s: ContainerState) => ({
    ID: shortId(s.id),
    Image: imageOf(s),
    Command: s.command.join(" "),
    CreatedAt: s.created,
    RunningFor: ago(s.created),
    Names: s.name,
    State: dockerStatus(s),
    Status: statusText(s),
    Labels: Object.entries(labelsOf(s)).map(([k, v]) => `${k}=${v}`).join(","),
    Pid: s.status === "running" ? s.pid : undefined,
  });
  if (flags.quiet) {
    for (const s of states) print(shortId(s.id));
  } else if (template) {
    const header = /^table\s+/.test(format);
    if (header) {
      print(template.text.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, k: string) => k.toUpperCase()));
    }
    for (const s of states) print(render(template, row(s)));
  } else if (format === "json") {
    for (const s of states) {
      print(JSON.stringify(row(s)));
    }
  } else {
    const rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"]];
    for (const s of states) {
      const cmd = s.command.join(" ");
      rows.push([
        shortId(s.id),
        imageOf(s),
        `"${trunc && cmd.length > 20 ? cmd.slice(0, 19) + "…" : cmd}"`,
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
