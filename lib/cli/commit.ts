/**
 * `minicontainer commit [-c INSTRUCTION]... [-m MSG] [-a AUTHOR] CONTAINER
 * [REPOSITORY[:TAG]]`: a container's changes (its overlayfs upper
 * directory, deletions as OCI whiteouts) as a new layer on its image.
 * @module
 */

import { print } from "./output.ts";
import { ContainerError, usageError } from "../errors.ts";
import { storeImage } from "../image/blobs.ts";
import { addStep, layerFromDir, parentOf } from "../image/commit.ts";
import { applyConfig, parseDockerfile } from "../image/dockerfile.ts";
import { parseReference } from "../image/reference.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { imageStore } from "./image.ts";

const FLAGS: FlagDef[] = [
  {
    name: "change",
    short: "c",
    value: true,
    repeat: true,
    meta: "INSTRUCTION",
    help:
      "A Dockerfile instruction for the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR...)",
  },
  { name: "message", short: "m", value: true, meta: "MSG", help: "Commit message" },
  { name: "author", short: "a", value: true, meta: "AUTHOR", help: "Author" },
  { name: "help", help: "Show this help" },
];

/** Instructions docker's commit --change takes. */
const CHANGES = new Set([
  "CMD",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "LABEL",
  "ONBUILD",
  "USER",
  "VOLUME",
  "WORKDIR",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
]);

/** The `commit` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]\n\nOptions:\n${
        flagHelp(FLAGS)
      }`,
    );
    return 0;
  }
  if (rest.length < 1 || rest.length > 2) {
    throw usageError("commit takes a container and optionally a name");
  }
  const target = rest[1] ? parseReference(rest[1]) : undefined;
  if (target?.digest) throw usageError(`commit "${rest[1]}": name a tag, not a digest`);
  const changes = ((flags.change as string[] | undefined) ?? []).flatMap((c) => parseDockerfile(c));
  for (const c of changes) {
    if (!CHANGES.has(c.cmd)) throw usageError(`commit --change cannot ${c.cmd}`);
  }
  const states = new StateStore(globalOptions.stateRoot);
  const state = states.read(states.resolve(rest[0]));
  if (!state) throw new ContainerError("commit", rest[0], undefined, "no such container");
  if (!state.overlay) {
    throw new ContainerError(
      "commit",
      rest[0],
      undefined,
      "the container was not made from an image (it has no layer of changes)",
    );
  }
  const store = imageStore();
  const imageId = store.containerImage(state.id);
  const parent = imageId ? store.find(imageId) : undefined;
  if (!parent) {
    throw new ContainerError(
      "commit",
      rest[0],
      undefined,
      "it was not made from an image that is still in the store",
    );
  }
  const lease = store.lease();
  try {
    const { doc, layers } = parentOf(store, parent);
    const { desc, diffId } = await layerFromDir(store, state.overlay.upper, lease);
    const next = addStep(doc, {
      createdBy: state.command.join(" "),
      comment: flags.message as string | undefined,
      author: flags.author as string | undefined,
      diffId,
    });
    const env: Record<string, string> = {};
    for (const e of next.config?.Env ?? []) {
      env[e.slice(0, e.indexOf("="))] = e.slice(e.indexOf("=") + 1);
    }
    const cfg = { doc: next, cmdSet: false };
    for (const c of changes) applyConfig(cfg, c, env);
    const image = await storeImage(store, target ? [target.local] : [], cfg.doc, [...layers, desc]);
    print(image.id);
    return 0;
  } finally {
    lease.release();
  }
}
