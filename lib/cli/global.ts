/**
 * Options given before the command name (`minicontainer --root DIR ps`),
 * shared by every command, and runc's global flags (`--log FILE
 * --log-format json --systemd-cgroup`), which podman's conmon and
 * containerd's shim put before every call.
 * @module
 */

import { DEFAULT_STATE_ROOT } from "../state/store.ts";

/**
 * Where state lives unless told: /run/minicontainer for root; for another
 * user (whose every run now has state), $XDG_RUNTIME_DIR/minicontainer, or
 * /tmp/minicontainer-UID without one.
 */
function defaultStateRoot(): string {
  if (Deno.uid() === 0) return DEFAULT_STATE_ROOT;
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  return runtime ? `${runtime}/minicontainer` : `/tmp/minicontainer-${Deno.uid()}`;
}

/** The global options in effect. */
export const globalOptions: {
  stateRoot: string;
  /** runc's --log: errors (and warnings) are also written there. */
  log?: string;
  /** runc's --log-format: "text" or "json". */
  logFormat?: string;
  /** A runc-only global flag was given: run, exec, kill and ps take runc's meaning. */
  runc: boolean;
  /** runc's --debug: the child's steps on stderr. */
  debug?: boolean;
} = {
  stateRoot: Deno.env.get("MINICONTAINER_ROOT") ?? defaultStateRoot(),
  runc: false,
};

/** runc's global flags that take a value (besides --root). */
const VALUE_FLAGS = new Set(["--log", "--log-format", "--criu", "--rootless"]);
/** runc's global boolean flags. */
const BOOL_FLAGS = new Set(["--systemd-cgroup", "--debug", "--no-pivot"]);

/**
 * Consumes the global flags at the start of `argv`; returns the rest.
 * `--root DIR` is minicontainer's own too; the others mark a runc-style call.
 */
export function parseGlobalFlags(argv: string[], cwd: () => string): string[] {
  let i = 0;
  while (i < argv.length && argv[i].startsWith("--")) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (name !== "--root" && !VALUE_FLAGS.has(name) && !BOOL_FLAGS.has(name)) break;
    let value: string | undefined;
    if (name === "--root" || VALUE_FLAGS.has(name)) {
      value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new Error(`flag needs an argument: ${name}`);
    }
    i++;
    if (name === "--root") {
      globalOptions.stateRoot = value!.startsWith("/") ? value! : `${cwd()}/${value}`;
      continue;
    }
    globalOptions.runc = true;
    if (name === "--log") globalOptions.log = value;
    if (name === "--log-format") globalOptions.logFormat = value;
    if (name === "--debug") globalOptions.debug = true;
  }
  return argv.slice(i);
}
