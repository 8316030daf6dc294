/**
 * `minicontainer image ls|rm|prune`, and the image store every image
 * command works on.
 * @module
 */

import { print } from "./output.ts";
import { usageError } from "../errors.ts";
import { ImageStore, imageStoreRoot } from "../image/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";

/** The image store of this user (MINICONTAINER_DATA/images, or the default data directory's). */
export function imageStore(): ImageStore {
  return new ImageStore(imageStoreRoot());
}

const PRUNE_FLAGS: FlagDef[] = [{ name: "help", help: "Show this help" }];

/** `image prune`: removes the build cache, then the layers no image, container or running pull uses. */
export async function prune(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, PRUNE_FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer image prune\n\nRemove the build cache (the images of build steps), then layers no image or container uses.\n\nOptions:\n${
        flagHelp(PRUNE_FLAGS)
      }`,
    );
    return 0;
  }
  if (rest.length) throw usageError(`image prune takes no arguments, not "${rest[0]}"`);
  const store = imageStore();
  const steps = await store.dropBuildCache();
  if (steps) print(`Deleted ${steps} build step image${steps === 1 ? "" : "s"} (the build cache)`);
  const freed = await store.prune();
  print(`Deleted ${freed} unused layer${freed === 1 ? "" : "s"}`);
  return 0;
}

/** The `image` command: `image ls`, `image rm`, `image prune`. */
export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "ls":
    case "list":
      return await (await import("./images.ts")).main(rest);
    case "rm":
      return await (await import("./rmi.ts")).main(rest);
    case "prune":
      return await prune(rest);
    case "inspect":
      return await (await import("./image_info.ts")).inspect(rest);
    case "history":
      return await (await import("./image_info.ts")).history(rest);
    case "tag":
      return await (await import("./tag.ts")).main(rest);
    case "push":
      return await (await import("./push.ts")).main(rest);
    case undefined:
    case "--help":
    case "help":
      print(
        "Usage: minicontainer image COMMAND\n\nCommands:\n  ls       List images\n  rm       Remove images\n  prune    Remove unused layers\n  inspect  Show images' configs as JSON\n  history  Show an image's steps\n  tag      Name an image\n  push     Push an image to a registry",
      );
      return sub === undefined ? 125 : 0;
  }
  throw usageError(
    `unknown image command "${sub}"; try ls, rm, prune, inspect, history, tag or push`,
  );
}
