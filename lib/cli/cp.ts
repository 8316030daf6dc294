/**
 * `minicontainer cp CONTAINER:SRC DEST` and `cp SRC CONTAINER:DEST`: files
 * between the host and a container, running or exited (when its files
 * outlive it, as for export), resolved inside the container's root
 * (lib/fs/copy.ts).
 * @module
 */

import { closeFd } from "../../ffi/libc.ts";
import { ContainerError, usageError } from "../errors.ts";
import { copyIn, copyOut } from "../fs/copy.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { openContainerRoot } from "./export.ts";
import { globalOptions } from "./global.ts";
import { print } from "./output.ts";

const FLAGS: FlagDef[] = [
  {
    name: "follow-link",
    short: "L",
    help:
      "Follow a symlink SRC (inside the container for CONTAINER:SRC) instead of copying the link",
  },
  { name: "help", help: "Show this help" },
];

/** `NAME:PATH` into its parts; undefined for a host path (one with a "/" before any ":"). */
function containerRef(arg: string): { ref: string; path: string } | undefined {
  const colon = arg.indexOf(":");
  if (colon <= 0 || arg.slice(0, colon).includes("/")) return undefined;
  return { ref: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** The `cp` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer cp CONTAINER:SRC DEST
       minicontainer cp SRC CONTAINER:DEST

Copy files between a container and the host. A directory DEST receives SRC
under its own name; SRC/. copies a directory's contents. Container paths
resolve inside the container (its symlinks never lead onto the host);
symlinks are copied as symlinks, devices and fifos are left out.

Options:\n${flagHelp(FLAGS)}`,
    );
    return 0;
  }
  if (rest.length !== 2) throw usageError("cp takes a source and a destination");
  const from = containerRef(rest[0]);
  const to = containerRef(rest[1]);
  if (!from === !to) {
    throw usageError("cp copies between a container and the host: one of CONTAINER:PATH, not two");
  }
  const side = (from ?? to)!;
  const path = side.path.startsWith("/") ? side.path : `/${side.path}`;
  const store = new StateStore(globalOptions.stateRoot);
  const state = store.read(store.resolve(side.ref));
  if (!state) throw new ContainerError("cp", side.ref, undefined, "no such container");
  const rootFd = openContainerRoot(state, side.ref, "cp", to !== undefined);
  try {
    if (from) await copyOut(rootFd, path, rest[1], flags["follow-link"] === true);
    else {
      // The container's root as the host sees it owns what is copied in.
      const id = (maps?: { containerID: number; hostID: number }[]) =>
        maps?.find((m) => m.containerID === 0)?.hostID ?? 0;
      copyIn(rootFd, rest[0], path, {
        uid: id(state.spec.linux.uidMappings),
        gid: id(state.spec.linux.gidMappings),
      }, flags["follow-link"] === true);
    }
  } finally {
    closeFd(rootFd);
  }
  return 0;
}
