/**
 * `minicontainer rmi NAME...` and `minicontainer image prune`: remove images
 * and the layers nothing uses any more (a running container's are kept).
 * @module
 */

import { ContainerError, usageError } from "../errors.ts";
import { imageStore } from "./import.ts";

/** The `rmi` command. */
export async function main(argv: string[]): Promise<number> {
  if (!argv.length) throw usageError("rmi needs an image name or id");
  const store = imageStore();
  let failed: ContainerError | undefined;
  for (const ref of argv) {
    try {
      const freed = await store.locked(() => store.remove(ref));
      console.log(
        `Untagged: ${ref}${freed ? ` (${freed} layer${freed > 1 ? "s" : ""} deleted)` : ""}`,
      );
    } catch (e) {
      if (!(e instanceof ContainerError)) throw e;
      console.error(`minicontainer: ${e.message}`);
      failed = e;
    }
  }
  return failed ? failed.exitCode : 0;
}

/** The `image` command: `image ls`, `image rm`, `image prune`. */
export async function image(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "rm") return await main(rest);
  if (sub === "ls") return await (await import("./images.ts")).main(rest);
  if (sub === "prune") {
    const store = imageStore();
    const freed = await store.locked(() => store.prune());
    console.log(`Deleted ${freed} unused layer${freed === 1 ? "" : "s"}`);
    return 0;
  }
  throw usageError(`unknown image command "${sub ?? ""}"; try ls, rm or prune`);
}
