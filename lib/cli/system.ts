/**
 * `minicontainer system prune [-f]`: docker's verb. Removes stopped
 * containers, everything dead commands left (cgroups in every hierarchy,
 * half-made or half-removed container folders, image roots nobody owns,
 * temporary directories and downloads of killed pulls, loads and imports,
 * dead leases) and the image layers no image or container uses; prints what
 * went and the space it held.
 * @module
 */

import { liveStatus, removeContainer, removeUnreadable } from "../container/lifecycle.ts";
import { reclaimDead, type Reclaimed } from "../container/reclaim.ts";
import { ContainerError, usageError } from "../errors.ts";
import { dataDir, removeContainerDir } from "../rootfs/default.ts";
import { reclaimBuilds } from "../rootfs/reclaim_builds.ts";
import { diskUsage, humanBytes, pathExists } from "../state/disk_usage.ts";
import { reclaimOwnedDirs } from "../state/liveness.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { imageStore } from "./image.ts";

const PRUNE_FLAGS: FlagDef[] = [
  { name: "force", short: "f", help: "Do not prompt for confirmation" },
  { name: "help", help: "Show this help" },
];

const WARNING = `WARNING! This will remove:
  - all stopped containers
  - everything killed or crashed commands left behind (cgroups, container
    folders, image roots, temporary files of pulls, loads and imports)
  - all image layers no image or container uses
Are you sure you want to continue? [y/N] `;

/** Asks on the terminal; true when the answer is y or yes. */
async function confirm(): Promise<boolean> {
  await Deno.stdout.write(new TextEncoder().encode(WARNING));
  const buf = new Uint8Array(256);
  const n = await Deno.stdin.read(buf);
  const answer = n ? new TextDecoder().decode(buf.subarray(0, n)).trim().toLowerCase() : "";
  return answer === "y" || answer === "yes";
}

/** Stopped containers of `store` removed, each with the bytes its folder and root held. */
export async function removeStopped(store: StateStore, out: Reclaimed): Promise<string[]> {
  const removed: string[] = [];
  for (const id of store.ids()) {
    // A live launcher or supervisor holds a claim: being started, or still recording its exit.
    if (store.claimed(id)) continue;
    try {
      await store.withLockOrWhy(id, async (got) => {
        const paths = [store.dir(id)];
        if ("state" in got) {
          if (liveStatus(got.state) === "running") return;
          paths.push(...got.state.removeOnDelete ?? []);
          const bytes = paths.reduce((sum, p) => sum + diskUsage(p), 0);
          // Normally gone with its supervisor; reported when they were still there.
          const cgroups = (got.state.cgroupPaths ?? []).filter(pathExists);
          await removeContainer(store, got.state, false);
          out.bytes += bytes;
          out.cgroups.push(...cgroups);
        } else {
          const bytes = diskUsage(store.dir(id));
          await removeUnreadable(store, got, false); // refused while its cgroup has processes
          out.bytes += bytes;
        }
        removed.push(id);
      });
    } catch (e) {
      if (!(e instanceof ContainerError)) throw e;
      // Running after all (it started meanwhile, or unreadable with live processes).
    }
  }
  return removed;
}

/** `system prune`. */
export async function prune(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, PRUNE_FLAGS);
  if (flags.help) {
    console.log(
      `Usage: minicontainer system prune [OPTIONS]\n\nRemove stopped containers, what dead commands left behind and unused image layers.\n\nOptions:\n${
        flagHelp(PRUNE_FLAGS)
      }`,
    );
    return 0;
  }
  if (rest.length) throw usageError(`system prune takes no arguments, not "${rest[0]}"`);
  if (!flags.force) {
    if (!Deno.stdin.isTerminal()) {
      throw usageError("system prune asks for confirmation and stdin is not a terminal: use -f");
    }
    if (!(await confirm())) return 0;
  }
  const store = new StateStore(globalOptions.stateRoot);
  const out = await reclaimDead(store);
  const containers = await removeStopped(store, out);
  await store.dropStaleNames();
  const imagesAt = imageStore();
  // A store that was never made stays unmade.
  const images = pathExists(imagesAt.root)
    ? await imagesAt.pruneLayers(true)
    : { paths: [], bytes: 0, layers: 0 };
  // Containers' directories (writable layers, roots) no process or state folder owns.
  const dirs = reclaimOwnedDirs(`${dataDir()}/containers`, removeContainerDir);
  out.paths.push(...dirs.paths);
  out.bytes += dirs.bytes;
  if (pathExists(`${dataDir()}/net`)) {
    // Networks of containers whose runtime was killed: CNI DEL, helpers stopped, files gone.
    const { reclaimDeadNetworks } = await import("../net/attach.ts");
    out.paths.push(...await reclaimDeadNetworks(`${dataDir()}/net`));
    // Then the /etc files of containers whose runtime is gone and that have no state folder.
    const { removeUnattachedNetDir } = await import("../net/etc_files.ts");
    out.paths.push(...reclaimOwnedDirs(`${dataDir()}/net`, removeUnattachedNetDir).paths);
  }
  const builds = reclaimBuilds(`${dataDir()}/rootfs`);
  out.paths.push(...builds.paths);
  out.bytes += builds.bytes;
  if (containers.length) console.log(`Deleted Containers:\n${containers.join("\n")}\n`);
  if (out.cgroups.length) console.log(`Deleted cgroups:\n${out.cgroups.join("\n")}\n`);
  const paths = [...out.paths, ...images.paths.filter((p) => !/\/layers\/[0-9a-f]{16}$/.test(p))];
  if (paths.length) console.log(`Deleted leftovers:\n${paths.join("\n")}\n`);
  if (images.layers) {
    console.log(`Deleted ${images.layers} unused layer${images.layers === 1 ? "" : "s"}\n`);
  }
  console.log(`Total reclaimed space: ${humanBytes(out.bytes + images.bytes)}`);
  return 0;
}

/** The `system` command: `system prune`. */
export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "prune":
      return await prune(rest);
    case undefined:
    case "--help":
    case "help":
      console.log(
        "Usage: minicontainer system COMMAND\n\nCommands:\n  prune   Remove stopped containers, dead commands' leftovers and unused layers",
      );
      return sub === undefined ? 125 : 0;
  }
  throw usageError(`unknown system command "${sub}"; try prune`);
}
