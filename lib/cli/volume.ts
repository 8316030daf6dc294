/**
 * `minicontainer volume create|ls|inspect|rm|prune`: named volumes
 * (lib/volumes/volumes.ts), with docker's spelling and columns.
 * @module
 */

import { ContainerError, usageError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import {
  createVolume,
  removeVolume,
  volumeInfo,
  volumeNames,
  volumeUsers,
} from "../volumes/volumes.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { forEachRef } from "./each_ref.ts";
import { globalOptions } from "./global.ts";
import { print } from "./output.ts";
import { LABEL_PREFIX, labelAnnotations } from "./annotations.ts";
import { parseTemplate, render } from "./template.ts";

const HELP = `Usage: minicontainer volume COMMAND

Manage named volumes (kept under the data directory, mounted with -v NAME:/path).

Commands:
  create [-l K=V] [NAME]     Create a volume (a generated name without NAME)
  ls [-q] [--format F]       List volumes
  inspect [-f F] NAME...     Show volumes as JSON
  rm [-f] NAME...            Remove volumes no container uses
  prune [-f]                 Remove every volume no container uses`;

const HELP_FLAG: FlagDef = { name: "help", help: "Show this help" };

/** The `volume` command. */
export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const store = () => new StateStore(globalOptions.stateRoot);
  switch (sub) {
    case "create": {
      const defs: FlagDef[] = [
        { name: "label", short: "l", value: true, repeat: true, meta: "K=V", help: "A label" },
        { name: "driver", short: "d", value: true, meta: "local", help: "Only local" },
        HELP_FLAG,
      ];
      const { flags, rest: names } = parseArgs(rest, defs);
      if (flags.help) return help(`volume create [OPTIONS] [NAME]`, defs);
      if (flags.driver !== undefined && flags.driver !== "local") {
        throw usageError(`--driver must be local, not "${flags.driver}"`);
      }
      if (names.length > 1) throw usageError("volume create takes at most one name");
      const name = names[0] ?? Array.from(
        crypto.getRandomValues(new Uint8Array(32)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      const labels = Object.fromEntries(
        Object.entries(labelAnnotations((flags.label as string[] | undefined) ?? [])).map((
          [k, v],
        ) => [k.slice(LABEL_PREFIX.length), v]),
      );
      createVolume(name, labels);
      print(name);
      return 0;
    }
    case "ls":
    case "list": {
      const defs: FlagDef[] = [
        { name: "quiet", short: "q", help: "Only names" },
        { name: "format", value: true, meta: "F", help: "A template: {{.Name}} {{.Mountpoint}}" },
        HELP_FLAG,
      ];
      const { flags, rest: extra } = parseArgs(rest, defs);
      if (flags.help) return help("volume ls [OPTIONS]", defs);
      if (extra.length) throw usageError(`volume ls takes no arguments, not "${extra[0]}"`);
      const template = flags.format === undefined
        ? undefined
        : parseTemplate(flags.format as string, "--format");
      const names = volumeNames();
      if (flags.quiet) names.forEach((n) => print(n));
      else if (template) names.forEach((n) => print(render(template, volumeInfo(n))));
      else {
        print("DRIVER    VOLUME NAME");
        names.forEach((n) => print(`local     ${n}`));
      }
      return 0;
    }
    case "inspect": {
      const defs: FlagDef[] = [
        { name: "format", short: "f", value: true, meta: "F", help: "A template per volume" },
        HELP_FLAG,
      ];
      const { flags, rest: names } = parseArgs(rest, defs);
      if (flags.help) return help("volume inspect [OPTIONS] NAME...", defs);
      if (!names.length) throw usageError("volume inspect needs a volume name");
      const template = flags.format === undefined
        ? undefined
        : parseTemplate(flags.format as string, "--format");
      const out: unknown[] = [];
      const code = await forEachRef(names, (n) => {
        const info = volumeInfo(n);
        if (template) print(render(template, info));
        else out.push(info);
      });
      if (!template) print(JSON.stringify(out, null, 2));
      return code;
    }
    case "rm":
    case "remove": {
      const defs: FlagDef[] = [
        { name: "force", short: "f", help: "No error for a missing one" },
        HELP_FLAG,
      ];
      const { flags, rest: names } = parseArgs(rest, defs);
      if (flags.help) return help("volume rm [OPTIONS] NAME...", defs);
      if (!names.length) throw usageError("volume rm needs a volume name");
      const s = store();
      return await forEachRef(names, (n) => {
        try {
          removeVolume(s, n);
        } catch (e) {
          if (!(flags.force && e instanceof ContainerError && e.detail === "no such volume")) {
            throw e;
          }
        }
        print(n);
      });
    }
    case "prune": {
      const defs: FlagDef[] = [
        { name: "force", short: "f", help: "Do not ask" },
        { name: "all", short: "a", help: "Every unused volume (the only kind here)" },
        HELP_FLAG,
      ];
      const { flags } = parseArgs(rest, defs);
      if (flags.help) return help("volume prune [OPTIONS]", defs);
      if (!flags.force) {
        if (!Deno.stdin.isTerminal()) {
          throw usageError("volume prune removes data: confirm with -f");
        }
        const answer = prompt(
          "WARNING! This will remove all volumes no container uses. Continue? [y/N]",
        );
        if (!/^y(es)?$/i.test(answer ?? "")) return 0;
      }
      const s = store();
      print("Deleted Volumes:");
      for (const n of volumeNames()) {
        if (volumeUsers(s, n).length) continue;
        removeVolume(s, n);
        print(n);
      }
      return 0;
    }
    case undefined:
    case "--help":
    case "-h":
      print(HELP);
      return sub === undefined ? 125 : 0;
    default:
      throw usageError(`unknown volume command "${sub}"; see 'minicontainer volume --help'`);
  }
}

function help(usage: string, defs: FlagDef[]): number {
  print(`Usage: minicontainer ${usage}\n\nOptions:\n${flagHelp(defs)}`);
  return 0;
}
