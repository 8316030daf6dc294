/**
 * `minicontainer exec [-dit] [-e K=V] [--env-file F] [-w DIR] [-u USER]
 * [--privileged] NAME CMD...`: run a command in a running container, in all
 * of its namespaces, cgroups, rlimits, capabilities, seccomp filter and
 * no_new_privs; its exit status is ours (-d: 0 once it runs).
 * @module
 */

import { execHelperFd } from "../../ffi/monitor.ts";
import { print } from "./output.ts";
import { mergeEnv } from "../container/default_spec.ts";
import { insertOps } from "../../ffi/plan.ts";
import { buildJoinPlan } from "../container/join.ts";
import { launch } from "../container/launch.ts";
import { liveStatus } from "../container/lifecycle.ts";
import { nullStdinOps } from "../container/plan.ts";
import { ContainerError, usageError } from "../errors.ts";
import { securityOps } from "../security/process_ops.ts";
import { resolveUser } from "../security/users.ts";
import { StateStore } from "../state/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { TERMINAL_FLAGS, terminalFlags } from "./terminal_flags.ts";
import { globalOptions } from "./global.ts";
import { resolveEnv } from "./run.ts";
import { PASSWD_ROOT } from "./annotations.ts";

const FLAGS: FlagDef[] = [
  ...TERMINAL_FLAGS,
  {
    name: "env",
    short: "e",
    value: true,
    repeat: true,
    meta: "K=V",
    help: "Set an environment variable",
  },
  { name: "env-file", value: true, repeat: true, meta: "FILE", help: "Read K=V lines from a file" },
  { name: "detach", short: "d", help: "Return once the command runs; its output is discarded" },
  {
    name: "privileged",
    help: "Every capability for this command (the container's seccomp filter still applies)",
  },
  {
    name: "workdir",
    short: "w",
    value: true,
    meta: "DIR",
    help: "Working directory inside the container",
  },
  {
    name: "user",
    short: "u",
    value: true,
    meta: "USER[:GROUP]",
    help: "Run as this user (from the container's /etc/passwd)",
  },
  { name: "debug", help: "Print each step" },
  { name: "help", help: "Show this help" },
];

/** The `exec` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(
      `Usage: minicontainer exec [OPTIONS] NAME CMD [ARG...]\n\nOptions:\n${flagHelp(FLAGS)}`,
    );
    return 0;
  }
  if (rest.length < 2) throw usageError("exec needs a container and a command");
  const { tty, interactive } = terminalFlags(flags);
  const detach = flags.detach === true;
  if (detach && (tty || interactive)) throw usageError("exec -d cannot be combined with -i or -t");
  const envFiles = flags["env-file"] as string[] | undefined;
  const given = [
    ...(envFiles ? (await import("./env_file.ts")).readEnvFiles(envFiles) : []),
    ...((flags.env as string[] | undefined) ?? []),
  ];
  const store = new StateStore(globalOptions.stateRoot);
  const id = store.resolve(rest[0]);
  const state = store.read(id);
  if (!state || liveStatus(state) !== "running" || !state.pid) {
    throw new ContainerError("exec", rest[0], undefined, "the container is not running");
  }
  const spec = state.spec;
  // docker's exec -t: TERM=xterm unless -e says otherwise.
  const env = mergeEnv(spec.process.env ?? [], tty ? ["TERM=xterm"] : [], resolveEnv(given));
  const cwd = (flags.workdir as string | undefined) ?? spec.process.cwd;
  const pid = state.pid;
  // The container's own security settings, with -u and --privileged (no
  // capability set: a root command keeps all of them) as the overrides.
  const user = flags.user as string | undefined;
  const execSpec = {
    ...spec,
    process: {
      ...spec.process,
      ...(user === undefined
        ? {}
        : { user: resolveUser(spec.annotations?.[PASSWD_ROOT] ?? spec.root.path, user) }),
      ...(flags.privileged === true ? { capabilities: undefined } : {}),
    },
  };
  const security = securityOps(execSpec);
  return await launch({
    plan: (terminal) => {
      const ops = buildJoinPlan({
        pid,
        execHelperFd: execHelperFd(),
        namespaces: spec.linux.namespaces.filter((n) => !n.path).map((n) => n.type),
        args: rest.slice(1),
        env,
        cwd,
        terminal,
        securityOps: security,
        rlimits: spec.process.rlimits,
        detached: detach,
      });
      // Without -i: the host's /dev/null, opened before any namespace is joined.
      if (interactive || detach) return ops;
      return insertOps(ops, ops.findIndex((op) => op.call === "wait_sync") + 1, nullStdinOps());
    },
    cloneFlags: 0,
    command: rest[1],
    terminal: tty,
    interactive,
    debug: flags.debug === true,
    detach,
    hooks: {
      async beforeRelease(child) {
        // The container's limits bind exec'd processes too (root only: the cgroups are root's).
        if (Deno.uid() === 0) (await import("../cgroups/join.ts")).joinCgroupsOf(pid, child);
      },
    },
  });
}
