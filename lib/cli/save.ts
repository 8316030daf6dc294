/**
 * `minicontainer save [-o FILE] IMAGE...` (an OCI layout tar) and
 * `minicontainer export [-o FILE] CONTAINER` (a running container's files).
 * Both write to stdout without -o.
 * @module
 */

import { liveStatus } from "../container/lifecycle.ts";
import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import { saveImages } from "../image/save.ts";
import { writeTree } from "../image/tar_write.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { imageStore } from "./import.ts";

const FLAGS: FlagDef[] = [
  {
    name: "output",
    short: "o",
    value: true,
    meta: "FILE",
    help: "Write to FILE instead of stdout",
  },
  { name: "help", help: "Show this help" },
];

async function output(
  path: string | undefined,
  body: (write: (c: Uint8Array) => Promise<void>) => Promise<void>,
) {
  if (!path && Deno.stdout.isTerminal()) {
    throw usageError("refusing to write a tar to a terminal; use -o FILE or a pipe");
  }
  const tmp = path ? `${path}.tmp-${Deno.pid}` : undefined;
  let file: Deno.FsFile | undefined;
  try {
    file = tmp ? await Deno.open(tmp, { create: true, write: true, truncate: true }) : undefined;
  } catch (e) {
    throw fromDenoError("write", path!, e);
  }
  const sink = file ?? Deno.stdout;
  try {
    await body(async (chunk) => {
      let done = 0;
      while (done < chunk.length) done += await sink.write(chunk.subarray(done));
    });
    file?.close();
    file = undefined;
    if (tmp) Deno.renameSync(tmp, path!);
  } catch (e) {
    file?.close();
    if (tmp) Deno.removeSync(tmp);
    throw e;
  }
}

/** The `save` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    console.log(`Usage: minicontainer save [OPTIONS] IMAGE...\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (!rest.length) throw usageError("save needs at least one image");
  const store = imageStore();
  await output(flags.output as string | undefined, (write) => saveImages(store, rest, write));
  return 0;
}

/** The `export` command. */
export async function exportMain(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    console.log(`Usage: minicontainer export [OPTIONS] CONTAINER\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (rest.length !== 1) throw usageError("export takes one container");
  const store = new StateStore(globalOptions.stateRoot);
  const state = store.read(store.resolve(rest[0]));
  if (!state || liveStatus(state) !== "running" || !state.pid) {
    throw new ContainerError(
      "export",
      rest[0],
      undefined,
      "the container is not running (its files live only while it runs)",
    );
  }
  const root = `/proc/${state.pid}/root`;
  await output(
    flags.output as string | undefined,
    (write) => writeTree(root, write, { sameDevice: true }),
  );
  return 0;
}
