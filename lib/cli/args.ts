/**
 * A docker-style flag parser: flags come before the first positional
 * argument, which starts the command line of the container (never permuted,
 * unlike getopt's default). `--` also ends the flags.
 * @module
 */

import { usageError } from "../errors.ts";

/** One flag a command accepts. */
export interface FlagDef {
  /** Long name without dashes: "env". */
  name: string;
  /** One-letter alias: "e". */
  short?: string;
  /** Takes a value (`--env K=V`, `--env=K=V`, `-e K=V`, `-eK=V`). */
  value?: boolean;
  /** May be given more than once; values are collected in order. */
  repeat?: boolean;
  /** Placeholder for the value in help, e.g. "K=V". */
  meta?: string;
  /** One line of help. */
  help: string;
}

/** What a command line parsed into. */
export interface ParsedArgs {
  /** Values by long name: string for value flags, string[] for repeatable, true for booleans. */
  flags: Record<string, string | string[] | boolean | undefined>;
  /** The positional arguments, from the first one on, untouched. */
  rest: string[];
}

/** Parses `argv` against `defs`. Unknown flags and missing values are usage errors. */
export function parseArgs(argv: readonly string[], defs: readonly FlagDef[]): ParsedArgs {
  const byLong = new Map(defs.map((d) => [d.name, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  const flags: ParsedArgs["flags"] = {};
  const set = (def: FlagDef, value: string | boolean) => {
    if (def.repeat) {
      const list = (flags[def.name] as string[] | undefined) ?? [];
      list.push(value as string);
      flags[def.name] = list;
    } else flags[def.name] = value;
  };
  const boolValue = (def: FlagDef, text: string): boolean => {
    if (text === "true") return true;
    if (text === "false") return false;
    throw usageError(`flag --${def.name} takes true or false, not "${text}"`);
  };

  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const def = byLong.get(name);
      if (!def) throw usageError(`unknown flag: --${name}`);
      if (!def.value) {
        set(def, eq < 0 ? true : boolValue(def, arg.slice(eq + 1)));
        continue;
      }
      if (eq >= 0) set(def, arg.slice(eq + 1));
      else if (i + 1 < argv.length) set(def, argv[++i]);
      else throw usageError(`flag needs an argument: --${name}`);
      continue;
    }
    // Short flags: booleans may be combined (-it); a value flag takes the rest
    // of the word or the next argument.
    for (let k = 1; k < arg.length; k++) {
      const def = byShort.get(arg[k]);
      if (!def) throw usageError(`unknown shorthand flag: '${arg[k]}' in ${arg}`);
      if (!def.value) {
        set(def, true);
        continue;
      }
      const attached = arg.slice(k + 1).replace(/^=/, "");
      if (attached) set(def, attached);
      else if (i + 1 < argv.length) set(def, argv[++i]);
      else throw usageError(`flag needs an argument: -${arg[k]}`);
      break;
    }
  }
  return { flags, rest: argv.slice(i) };
}

/** The help text for a command's flags, aligned. */
export function flagHelp(defs: readonly FlagDef[]): string {
  const left = defs.map((d) =>
    `${d.short ? `-${d.short}, ` : "    "}--${d.name}${d.value ? ` ${d.meta ?? "VALUE"}` : ""}`
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return defs.map((d, i) => `  ${left[i].padEnd(width)}${d.help}`).join("\n");
}
