/**
 * `minicontainer images [--format json] [-q]`: the local images.
 * @module
 */

import { print } from "./output.ts";
import { usageError } from "../errors.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore } from "./image.ts";

const FLAGS: FlagDef[] = [
  { name: "format", value: true, meta: "table|json", help: "Output format (default table)" },
  { name: "quiet", short: "q", help: "Only ids" },
  { name: "help", help: "Show this help" },
];

function human(bytes: number): string {
  if (bytes < 1e3) return `${bytes}B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)}kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)}MB`;
  return `${(bytes / 1e9).toFixed(2)}GB`;
}

/** The `images` command. */
export function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer images [OPTIONS]\n\nOptions:\n${flagHelp(FLAGS)}`);
    return Promise.resolve(0);
  }
  if (rest.length) throw usageError(`images takes no arguments, not "${rest[0]}"`);
  const format = (flags.format as string | undefined) ?? "table";
  if (format !== "table" && format !== "json") {
    throw usageError(`--format must be table or json, not "${format}"`);
  }
  const images = Object.values(imageStore().readIndex().images).sort((a, b) =>
    a.ref.localeCompare(b.ref)
  );
  if (flags.quiet) {
    for (const i of images) print(i.id.slice(7, 19));
  } else if (format === "json") {
    for (const i of images) {
      const colon = i.ref.lastIndexOf(":");
      print(
        JSON.stringify({
          Repository: i.ref.slice(0, colon),
          Tag: i.ref.slice(colon + 1),
          ID: i.id.slice(7, 19),
          FullID: i.id,
          Digest: i.digest ?? "<none>",
          CreatedAt: i.created,
          Size: i.size,
          Layers: i.layers.length,
        }),
      );
    }
  } else {
    const rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]];
    for (const i of images) {
      const colon = i.ref.lastIndexOf(":");
      rows.push([
        i.ref.slice(0, colon),
        i.ref.slice(colon + 1),
        i.id.slice(7, 19),
        i.created.slice(0, 19).replace("T", " "),
        human(i.size),
      ]);
    }
    const widths = rows[0].map((_, k) => Math.max(...rows.map((r) => r[k].length)) + 3);
    for (const r of rows) {
      print(r.map((c, k) => (k === r.length - 1 ? c : c.padEnd(widths[k]))).join(""));
    }
  }
  return Promise.resolve(0);
}
