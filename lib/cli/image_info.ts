/**
 * `image inspect IMAGE...` (docker's JSON) and `image history IMAGE`, read
 * from the image's stored config.
 * @module
 */

import { print } from "./output.ts";
import { ContainerError, usageError } from "../errors.ts";
import { imageConfig } from "../image/blobs.ts";
import type { LocalImage } from "../image/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore } from "./image.ts";
import { human, repoTag } from "./images.ts";

const FLAGS: FlagDef[] = [{ name: "help", help: "Show this help" }];

/** `image inspect`. */
export function inspect(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer image inspect IMAGE...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return Promise.resolve(0);
  }
  if (!rest.length) throw usageError("image inspect needs an image");
  const store = imageStore();
  const all = Object.values(store.readIndex().images);
  const out = rest.map((ref) => {
    const image = store.find(ref);
    if (!image) throw new ContainerError("inspect image", ref, undefined, "no such image");
    const doc = imageConfig(store.root, image);
    const names = all.filter((i) => i.id === image.id);
    return {
      Id: image.id,
      RepoTags: names.filter((i) => repoTag(i.ref).tag !== "<none>").map((i) => i.ref),
      RepoDigests: names.flatMap((i) =>
        i.digest ? [`${repoTag(i.ref).repository}@${i.digest}`] : []
      ),
      Created: doc.created,
      Author: doc.author ?? "",
      Config: doc.config ?? {},
      Architecture: doc.architecture,
      Os: doc.os,
      Size: [...new Set(image.layers)].reduce((n, l) => n + store.layerSize(l), 0),
      RootFS: { Type: "layers", Layers: doc.rootfs?.diff_ids ?? [] },
      Manifest: image.manifest,
    };
  });
  print(JSON.stringify(out, null, 4));
  return Promise.resolve(0);
}

/** `image history`: newest step first, as docker lists it. */
export function history(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, [
    { name: "no-trunc", help: "Do not cut the CREATED BY column" },
    ...FLAGS,
  ]);
  if (flags.help) {
    print(`Usage: minicontainer image history IMAGE`);
    return Promise.resolve(0);
  }
  if (rest.length !== 1) throw usageError("image history takes one image");
  const store = imageStore();
  const image: LocalImage | undefined = store.find(rest[0]);
  if (!image) throw new ContainerError("image history", rest[0], undefined, "no such image");
  const doc = imageConfig(store.root, image);
  const steps = doc.history?.length
    ? doc.history
    : (doc.rootfs?.diff_ids ?? []).map(() => ({ created: doc.created, created_by: "" }));
  let layer = 0;
  const rows = steps.map((h) => {
    const empty = "empty_layer" in h && h.empty_layer;
    const diffId = empty ? undefined : doc.rootfs?.diff_ids?.[layer++];
    const by = h.created_by ?? "";
    return [
      "<missing>",
      (h.created ?? "").slice(0, 19).replace("T", " "),
      flags["no-trunc"] || by.length <= 45 ? by : `${by.slice(0, 44)}…`,
      human(diffId ? store.layerSize(diffId) : 0),
      ("comment" in h ? h.comment : "") ?? "",
    ];
  }).reverse();
  if (rows.length) rows[0][0] = image.id.slice(7, 19);
  const table = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], ...rows];
  const widths = table[0].map((_, k) => Math.max(...table.map((r) => r[k].length)) + 3);
  for (const r of table) {
    print(r.map((c, k) => (k === r.length - 1 ? c : c.padEnd(widths[k]))).join("").trimEnd());
  }
  return Promise.resolve(0);
}
