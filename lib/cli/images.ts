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
  { name: "digests", help: "Show digests" },
  { name: "all", short: "a", help: "Show build steps' images too (the build cache)" },
  { name: "help", help: "Show this help" },
];

/** docker's sizes: B, kB, MB, GB in powers of ten. */
export function human(bytes: number): string {
  if (bytes < 1e3) return `${bytes}B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)}kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)}MB`;
  return `${(bytes / 1e9).toFixed(2)}GB`;
}

/**
 * docker's REPOSITORY and TAG of a ref: a digest pull is NAME@DIGEST with
 * no tag, a dangling image (its key is its id) has neither.
 */
export function repoTag(ref: string): { repository: string; tag: string } {
  if (ref.startsWith("sha256:")) return { repository: "<none>", tag: "<none>" };
  const at = ref.indexOf("@");
  if (at >= 0) return { repository: ref.slice(0, at), tag: "<none>" };
  const colon = ref.lastIndexOf(":");
  return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
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
  const store = imageStore();
  const images = Object.values(store.readIndex().images).filter((i) => flags.all || !i.intermediate)
    .sort((a, b) => a.ref.localeCompare(b.ref));
  // Each image's own size: its distinct layers, whatever other images share them.
  const size = (layers: string[]) =>
    [...new Set(layers)].reduce((sum, l) => sum + store.layerSize(l), 0);
  const digestOf = (i: (typeof images)[number]) =>
    i.digest ?? (i.ref.includes("@") ? i.ref.slice(i.ref.indexOf("@") + 1) : "<none>");
  if (flags.quiet) {
    for (const i of images) print(i.id.slice(7, 19));
  } else if (format === "json") {
    for (const i of images) {
      const { repository, tag } = repoTag(i.ref);
      print(
        JSON.stringify({
          Repository: repository,
          Tag: tag,
          ID: i.id.slice(7, 19),
          FullID: i.id,
          Digest: digestOf(i),
          CreatedAt: i.created,
          Size: size(i.layers),
          Layers: i.layers.length,
        }),
      );
    }
  } else {
    const digests = flags.digests === true;
    const rows = [[
      "REPOSITORY",
      "TAG",
      ...(digests ? ["DIGEST"] : []),
      "IMAGE ID",
      "CREATED",
      "SIZE",
    ]];
    for (const i of images) {
      const { repository, tag } = repoTag(i.ref);
      rows.push([
        repository,
        tag,
        ...(digests ? [digestOf(i)] : []),
        i.id.slice(7, 19),
        i.created.slice(0, 19).replace("T", " "),
        human(size(i.layers)),
      ]);
    }
    const widths = rows[0].map((_, k) => Math.max(...rows.map((r) => r[k].length)) + 3);
    for (const r of rows) {
      print(r.map((c, k) => (k === r.length - 1 ? c : c.padEnd(widths[k]))).join(""));
    }
  }
  return Promise.resolve(0);
}
