/**
 * `minicontainer save [-o FILE] IMAGE...`: images as an OCI layout tar
 * (which `load`, podman and skopeo's oci-archive: read), to stdout without -o.
 * @module
 */

import { OutputClosed, print } from "./output.ts";
import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import { saveImages } from "../image/save.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { imageStore } from "./image.ts";

/** -o FILE, shared with export. */
export const OUTPUT_FLAGS: FlagDef[] = [
  {
    name: "output",
    short: "o",
    value: true,
    meta: "FILE",
    help: "Write to FILE instead of stdout",
  },
  { name: "help", help: "Show this help" },
];

/**
 * Runs `body` writing to `path` (via a temporary file renamed into place, so
 * a failure leaves no half tar) or to stdout, never to a terminal.
 */
export async function output(
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
    if (tmp) {
      try {
        Deno.removeSync(tmp);
      } catch { /* never created */ }
    }
    if (!tmp && e instanceof Deno.errors.BrokenPipe) throw new OutputClosed();
    throw e instanceof ContainerError ? e : fromDenoError("write", path ?? "stdout", e);
  }
}

/** The `save` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, OUTPUT_FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer save [OPTIONS] IMAGE...\n\nOptions:\n${flagHelp(OUTPUT_FLAGS)}`,
    );
    return 0;
  }
  if (!rest.length) throw usageError("save needs at least one image");
  const store = imageStore();
  await output(flags.output as string | undefined, (write) => saveImages(store, rest, write));
  return 0;
}

/** @deprecated main.ts's old entry for `export`: use export.ts's main. */
export async function exportMain(argv: string[]): Promise<number> {
  return await (await import("./export.ts")).main(argv);
}
