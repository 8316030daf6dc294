/**
 * minicontainer: parse the command name and hand over to lib/cli/<command>.ts.
 * Commands load lazily so `run`, paid on every container start, loads only
 * its own module graph.
 * @module
 */

import { EXIT_OUTPUT_CLOSED, OutputClosed, print } from "./lib/cli/output.ts";
import { SysError } from "./ffi/libc.ts";
import { globalOptions, parseGlobalFlags } from "./lib/cli/global.ts";
import { warmAttachEarly } from "./lib/cgroups/layout.ts";
import { OCI_VERSION } from "./lib/spec.ts";
import { ContainerError, EXIT_RUNTIME, usageError } from "./lib/errors.ts";

/**
 * Loads lib/cli/NAME. The specifier is computed on purpose: Deno reads a
 * literal dynamic import's module, and everything it imports, along with
 * main.ts before anything runs, which made every command pay for the
 * modules of all of them (98 files read for --version). From the bundle
 * (bundle.sh) the same path names the verb's own entry, a .js file.
 */
function cli(name: string): Promise<Record<string, Command>> {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  // A URL value, not a template: Deno and its bundler expand a template into
  // every file it could name, which is the eager load this avoids.
  const url = new URL(`./lib/cli/${name}${ext}`, import.meta.url).href;
  return import(url);
}

/** A subcommand: runs with its arguments, resolves to the exit status. */
type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { load: () => Promise<Command>; summary: string }> = {
  run: {
    load: async () => (await cli("run")).main,
    summary: "Run a command in a new container",
  },
  create: {
    load: async () => (await cli("run")).create,
    summary: "Create a container (run's flags) without starting it; print its id",
  },
  start: {
    load: async () => (await cli("start")).main,
    summary: "Start created or exited containers (-a: attach and return the exit code)",
  },
  restart: {
    load: async () => (await cli("start")).restart,
    summary: "Stop, then start containers again",
  },
  ps: {
    load: async () => (await cli("ps")).main,
    summary: "List containers (-a: exited ones too)",
  },
  logs: {
    load: async () => (await cli("logs")).main,
    summary: "Show a detached container's output",
  },
  exec: {
    load: async () => (await cli("exec")).main,
    summary: "Run a command in a running container",
  },
  wait: {
    load: async () => (await cli("wait")).main,
    summary: "Wait for containers to exit; print their exit codes",
  },
  attach: {
    load: async () => (await cli("attach")).main,
    summary: "Attach this terminal to a running -t container (Ctrl-P Ctrl-Q detaches)",
  },
  cp: {
    load: async () => (await cli("cp")).main,
    summary: "Copy files between a container and the host",
  },
  pause: {
    load: async () => (await cli("pause")).pause,
    summary: "Freeze every process of containers",
  },
  unpause: {
    load: async () => (await cli("pause")).unpause,
    summary: "Thaw paused containers",
  },
  stats: {
    load: async () => (await cli("stats")).main,
    summary: "Show containers' CPU, memory, I/O and process counts",
  },
  top: {
    load: async () => (await cli("top")).main,
    summary: "Show a container's processes",
  },
  rename: {
    load: async () => (await cli("rename")).main,
    summary: "Rename a container",
  },
  container: {
    load: async () => (await cli("container")).main,
    summary: "Manage containers: container ls, rm, prune, ... (docker's spelling)",
  },
  stop: {
    load: async () => (await cli("stop")).main,
    summary: "Stop containers (SIGTERM, then SIGKILL after a grace period)",
  },
  kill: {
    load: async () => (await cli("kill")).main,
    summary: "Send a signal to containers",
  },
  rm: {
    load: async () => (await cli("rm")).main,
    summary: "Remove containers",
  },
  inspect: {
    load: async () => (await cli("inspect")).main,
    summary: "Show containers' state as JSON",
  },
  volume: {
    load: async () => (await cli("volume")).main,
    summary: "Manage named volumes: volume create, ls, inspect, rm, prune",
  },
  pull: {
    load: async () => (await cli("pull")).main,
    summary: "Pull an image from a registry",
  },
  import: {
    load: async () => (await cli("import")).main,
    summary: "Import a rootfs tarball as an image",
  },
  load: {
    load: async () => (await cli("load")).main,
    summary: "Load images from a docker save archive or an OCI layout",
  },
  save: {
    load: async () => (await cli("save")).main,
    summary: "Save images to an OCI layout tar",
  },
  export: {
    load: async () => (await cli("save")).exportMain,
    summary: "Export a running container's files as a tar",
  },
  tag: {
    load: async () => (await cli("tag")).main,
    summary: "Give an image another name",
  },
  push: {
    load: async () => (await cli("push")).main,
    summary: "Push an image to a registry",
  },
  commit: {
    load: async () => (await cli("commit")).main,
    summary: "Make an image of a container's changes",
  },
  build: {
    load: async () => (await cli("build")).main,
    summary: "Build an image from a Dockerfile",
  },
  login: {
    load: async () => (await cli("login")).main,
    summary: "Log in to a registry (docker's config.json)",
  },
  logout: {
    load: async () => (await cli("login")).logout,
    summary: "Log out of a registry",
  },
  images: {
    load: async () => (await cli("images")).main,
    summary: "List images",
  },
  rmi: {
    load: async () => (await cli("rmi")).main,
    summary: "Remove images (and the layers nothing else uses)",
  },
  image: {
    load: async () => (await cli("rmi")).image,
    summary: "Manage images: image ls, image rm, image prune",
  },
  system: {
    load: async () => (await cli("system")).main,
    summary: "Remove stopped containers, dead commands' leftovers and unused layers (system prune)",
  },
  network: {
    load: async () => (await cli("network")).main,
    summary: "Manage networks: network create, ls, inspect, rm, prune",
  },
  port: {
    load: async () => (await cli("port")).main,
    summary: "List a container's published ports",
  },
  rootfs: {
    load: async () => (await cli("rootfs")).main,
    summary: "Build the default root filesystem (rootfs build [DIR])",
  },
};

/** Every command `minicontainer --help` lists (tests run each with --help and a bad flag). */
export const COMMAND_NAMES: readonly string[] = [
  ...Object.keys(COMMANDS),
  "state",
  "delete",
  "resume",
  "update",
  "features",
  "spec",
  "list",
];

/** The version printed by --version. */
export const VERSION = "0.1.0";

function usage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return [
    "Usage: minicontainer [--root DIR] COMMAND [OPTIONS] [ARG...]",
    "",
    "A Linux container runtime.",
    "",
    "Commands:",
    ...names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n].summary}`),
    "",
    "OCI runtime commands (runc's command line, for podman and containerd):",
    ...Object.entries(OCI_COMMANDS).map(([n, s]) => `  ${n.padEnd(width)}${s}`),
    "",
    "--root DIR keeps container state in DIR (default /run/minicontainer).",
    "Run 'minicontainer COMMAND --help' for more on a command.",
  ].join("\n");
}

/**
 * Verbs that put a process into a cgroup (docker's and runc's forms):
 * they start the kernel's wait for it before loading their modules.
 */
const ATTACHING_VERBS = ["run", "create", "start", "restart", "exec"];

/** runc's commands: pause, create and start are docker's too (see runcStyle). */
const OCI_COMMANDS: Record<string, string> = {
  create: "Create a container from an OCI bundle (runc's create)",
  start: "Start a created container (runc's start)",
  state: "Print a container's OCI state JSON",
  delete: "Delete an OCI container (--force: kill it first)",
  pause: "Freeze every process of an OCI container",
  resume: "Thaw a paused OCI container",
  update: "Change an OCI container's resource limits",
  features: "Print the OCI features JSON of this runtime",
  spec: "Write a default config.json (runc's spec)",
  list: "List OCI containers (runc's list)",
};

/** Flags only runc's form of run (or exec) has: docker's forms have none of them. */
const RUNC_FLAGS: Record<string, RegExp> = {
  run:
    /^(-b|--bundle|--pid-file|--console-socket|--no-pivot|--no-new-keyring|--keep|--preserve-fds)(=|$)/,
  exec: /^(-p|--process|--pid-file|--console-socket|--preserve-fds)(=|$)/,
  create:
    /^(-b|--bundle|--pid-file|--console-socket|--no-pivot|--no-new-keyring|--preserve-fds)(=|$)/,
  kill: /^(-a|--all)$/,
  ps: /^$/,
  pause: /^$/,
  start: /^$/,
};

/** The verbs both runc and docker have: runcStyle() decides whose each call is. */
const DUAL_VERBS = ["run", "exec", "kill", "ps", "pause", "create", "start"];

/**
 * Whether a verb both have (DUAL_VERBS) means runc's: under runc's global
 * flags (--log, --log-format, --systemd-cgroup), with a flag only runc's
 * form has, or (exec, kill, pause, start) naming a container made by runc's
 * `create`. runc's `create ID` without flags (the bundle is the working
 * directory) is runc's when ./config.json is there and ID is its only
 * argument; docker's `create` always names an image or --rootfs and takes
 * run's flags. Anything else is docker's.
 */
export function runcStyle(name: string, args: string[]): boolean {
  if (globalOptions.runc) return true;
  if (name === "ps") {
    // docker's ps takes no argument: one (not a flag's value: runc's --format, docker's
    // --filter, -n) is a container id.
    const plain = args.filter((a, i) =>
      !a.startsWith("-") && !/^(-f|--format|--filter|-n|--last)$/.test(args[i - 1])
    );
    return plain.length > 0;
  }
  const firstArg = args.findIndex((a) => !a.startsWith("-"));
  const flags = firstArg < 0 ? args : args.slice(0, firstArg);
  if (flags.some((a) => RUNC_FLAGS[name].test(a))) return true;
  if (name === "run" || firstArg < 0) return false;
  const id = args[firstArg];
  if (!/^[\w+.-]+$/.test(id)) return false;
  if (name === "create") {
    if (args.length !== 1) return false;
    try {
      return Deno.statSync("config.json").isFile;
    } catch {
      return false;
    }
  }
  // docker's start takes -a/-i and any number of names; runc's one id and no flag.
  if (name === "start" && args.length !== 1) return false;
  try {
    return Deno.statSync(`${globalOptions.stateRoot}/oci/${id}/state.json`).isFile;
  } catch {
    return false;
  }
}

async function main(argv: string[]): Promise<number> {
  try {
    argv = parseGlobalFlags(argv, Deno.cwd);
  } catch (e) {
    throw usageError((e as Error).message);
  }
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    print(usage());
    return name === undefined ? EXIT_RUNTIME : 0;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    // runc's shape: podman and containerd read the first line, tools the spec line.
    print(`minicontainer version ${VERSION}\nspec: ${OCI_VERSION}`);
    return 0;
  }
  if (name === "__cleanup") return await (await cli("cleanup")).main(rest);
  // Not for --help (which acts on nothing); -h is run's --hostname.
  if (ATTACHING_VERBS.includes(name) && !rest.includes("--help")) {
    warmAttachEarly();
  }
  if (
    (name in OCI_COMMANDS && !DUAL_VERBS.includes(name)) ||
    (DUAL_VERBS.includes(name) && runcStyle(name, rest))
  ) {
    // lib/cli/oci.ts's main takes the verb too: runc's verbs share one dispatcher.
    const oci = await cli("oci") as unknown as {
      main(verb: string, argv: string[]): Promise<number>;
    };
    return await oci.main(name, rest);
  }
  const command = COMMANDS[name === "list" ? "ps" : name];
  if (!command) {
    console.error(`minicontainer: unknown command "${name}"; see 'minicontainer --help'`);
    return EXIT_RUNTIME;
  }
  return await (await command.load())(rest);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (e instanceof OutputClosed) {
      code = EXIT_OUTPUT_CLOSED; // the reader went away: a quiet end, as for `ps | head -1`
    } else if (e instanceof ContainerError) {
      console.error(`minicontainer: ${e.message}`);
      code = e.exitCode;
    } else if (e instanceof SysError) {
      // A system call of the runtime's own failed: still one sentence, exit 125.
      console.error(`minicontainer: ${e.message}`);
      code = EXIT_RUNTIME;
    } else {
      console.error(`minicontainer: internal error: ${(e as Error)?.stack ?? e}`);
      code = EXIT_RUNTIME;
    }
  }
  Deno.exit(code);
}
