/**
 * runc's command line, for podman (through conmon) and containerd (through
 * its runc shim): create, start, state, kill, delete, exec, ps, pause,
 * resume, update, list, run, features, spec. Flags, JSON and messages are
 * runc's; a bundle's config.json goes through the same executor as `run`
 * (lib/oci/bundle.ts → lib/container/plan.ts). Errors are also written to
 * `--log` (as JSON lines with `--log-format json`), where conmon and the
 * shim read them. create, run and exec are lib/cli/oci_create.ts's: the
 * other verbs, each a process of its own under podman and containerd, do
 * not load what making a process needs.
 * @module
 */

import { errno, libc, strerror, SysError } from "../../ffi/libc.ts";
import { K } from "../../ffi/syscalls.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { readPids } from "../cgroups/fs.ts";
import { removeCgroupDirs } from "../cgroups/remove.ts";
import { parseSignal, sendSignal } from "../container/lifecycle.ts";
import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import { fifoReport } from "../oci/hook_ops.ts";
import { runHooks } from "../oci/hooks.ts";
import { checkId, freezerFile, type OciRecord, OciStore } from "../oci/state.ts";
import type { Resources } from "../spec.ts";
import { isSameProcess } from "../state/liveness.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { globalOptions } from "./global.ts";
import { print } from "./output.ts";

/** Writes one line to runc's --log, in its format; never fails the command. */
function log(
  level: "error" | "warning" | "info",
  msg: string,
): void {
  const path = globalOptions.log;
  if (!path) return;
  const time = new Date().toISOString();
  const line = globalOptions.logFormat === "json"
    ? JSON.stringify({ level, msg, time })
    : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
  try {
    Deno.writeTextFileSync(path, `${line}\n`, { append: true });
  } catch { /* the log is the caller's; stderr has the message anyway */ }
}

/**
 * A warning: into --log alone when the caller gave one (runc's logging goes
 * there, not to stderr: conmon relays a create's stderr into a terminal
 * container's output, where podman run -it showed it), else on stderr.
 */
export function warn(message: string): void {
  if (globalOptions.log) log("warning", message);
  else console.error(`minicontainer: warning: ${message}`);
}

const HELP: FlagDef = { name: "help", short: "h", help: "Show this help" };

export function parse(
  argv: string[],
  defs: FlagDef[],
  usage: string,
): { flags: Record<string, string | string[] | boolean | undefined>; rest: string[] } | null {
  const all = [...defs, HELP];
  const parsed = parseArgs(argv, all);
  if (parsed.flags.help) {
    print(`Usage: minicontainer ${usage}\n\nOptions:\n${flagHelp(all)}`);
    return null;
  }
  return parsed;
}

export function store(): OciStore {
  return new OciStore(globalOptions.stateRoot);
}

export function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/** Waits until the container's init is gone (a zombie counts as gone). */
export async function waitGone(rec: OciRecord, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (isSameProcess(rec.pid, rec.pidStart)) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Releases a created container's init through its exec fifo. `justCreated`:
 * the record of the create this process has just made (a foreground run),
 * whose status needs no reading: an init dead since is seen at the fifo.
 */
export async function doStart(id: string, justCreated?: OciRecord): Promise<void> {
  const s = store();
  const rec = justCreated ?? s.read(id);
  const status = justCreated ? "created" : s.status(rec);
  if (status === "stopped") {
    throw new ContainerError("start", id, undefined, "cannot start a container that has stopped");
  }
  if (status !== "created") {
    throw new ContainerError("start", id, undefined, `cannot start an already ${status} container`);
  }
  if (!rec.spec.process.args.length) {
    // The spec: start MUST be an error without a process. The init can
    // never run one, so it goes: the container is stopped.
    sendSignal(rec.pid, K.SIGKILL);
    await waitGone(rec, 5000);
    throw new ContainerError(
      "start",
      id,
      undefined,
      "config.json has no process: there is nothing to start (the container is now stopped)",
    );
  }
  const fifo = s.fifo(id);
  // Held open for reading, the fifo lets the init's open for writing
  // return; it runs the startContainer hooks, writes one byte and executes
  // the command. The byte stays readable even if the command has exited
  // already. Opened without blocking (a dead init never opens its end),
  // then read blocking on a worker thread: the init counts as a writer from
  // its open on, so its exec (the fifo is close-on-exec) or death is
  // end-of-file; one still alive at end-of-file was between its ready
  // report and that open.
  const O_NONBLOCK = 0o4000;
  const F_SETFL = 4;
  const fd = libc().open(new TextEncoder().encode(`${fifo}\0`), O_NONBLOCK | K.O_CLOEXEC);
  if (fd < 0) throw new SysError(`open exec fifo ${fifo}`, errno());
  const hooks = rec.spec.hooks?.startContainer ?? [];
  const t = trampoline();
  try {
    if (libc().fcntl(fd, F_SETFL, 0) !== 0) throw new SysError(`fcntl exec fifo ${fifo}`, errno());
    // "0" once the startContainer hooks passed, or a failing hook's record
    // (one write, then the init exits: read to the end).
    const read = async () => {
      const first = await t.readFull(fd, 1);
      if (first[0] !== 0x45) return first;
      return new Uint8Array([...first, ...await t.readFull(fd, 4 + 4096)]);
    };
    for (;;) {
      let got = await read();
      const gone = !got.length && !isSameProcess(rec.pid, rec.pidStart);
      // What it wrote before it went.
      if (gone) got = await read();
      const report = got.length
        ? fifoReport(got, hooks)
        : gone
        ? { ok: false as const, error: null }
        : undefined;
      if (report?.ok) break;
      if (report) {
        // The spec: a failing startContainer hook stops the container.
        trampoline().kill(rec.pid, K.SIGKILL);
        await waitGone(rec, 5000);
        throw report.error
          ? new ContainerError(
            report.error.op,
            report.error.path,
            report.error.errno,
            `${
              report.error.detail ?? strerror(report.error.errno ?? 0)
            } (the container is now stopped)`,
          )
          : new ContainerError("start", id, undefined, "the container's init exited before start");
      }
      if (!got.length) await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    t.close(fd);
  }
  try {
    Deno.removeSync(fifo);
  } catch (e) {
    throw fromDenoError("remove exec fifo", fifo, e);
  }
  if (!rec.spec.hooks?.poststart?.length) return;
  try {
    // The state as of the start, whatever the command has done since.
    const state = { ...s.state(rec), status: "running" as const, pid: rec.pid };
    await runHooks("poststart", rec.spec.hooks.poststart, state);
  } catch (e) {
    warn((e as Error).message);
  }
}

/** Removes what a stopped container left: cgroups, poststop hooks, state. */
export async function cleanUp(s: OciStore, rec: OciRecord): Promise<void> {
  removeCgroupDirs(rec.cgroupPaths);
  try {
    if (rec.spec.hooks?.poststop?.length) {
      await runHooks("poststop", rec.spec.hooks.poststop, s.state(rec));
    }
  } catch (e) {
    warn((e as Error).message);
  }
  s.remove(rec.id);
}

function signalAll(rec: OciRecord, signal: number, all: boolean): void {
  const pids = all && rec.cgroupPaths.length
    ? [...new Set(rec.cgroupPaths.flatMap((p) => readPids(`${p}/cgroup.procs`)))]
    : [rec.pid];
  for (const pid of pids) {
    const err = sendSignal(pid, signal);
    if (err && err !== 3 /* ESRCH: already gone */) throw new ContainerError("kill", `${pid}`, err);
  }
}

function thaw(rec: OciRecord): void {
  const f = freezerFile(rec.cgroupPaths);
  if (f) Deno.writeTextFileSync(f, f.endsWith("freezer.state") ? "THAWED" : "0");
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => v.padEnd(widths[c])).join("   ").trimEnd()).join("\n");
}

/** Writes `resources` into the container's existing cgroup. */
async function applyResources(rec: OciRecord, r: Resources): Promise<void> {
  const { validateResources, applyWrites } = await import("../cgroups/common.ts");
  validateResources(r);
  if (!rec.cgroupPaths.length) throw new ContainerError("update", rec.id, undefined, "no cgroup");
  const isV2 = (p: string) => {
    try {
      return Deno.statSync(`${p}/cgroup.controllers`).isFile;
    } catch {
      return false;
    }
  };
  const v2Path = rec.cgroupPaths.find(isV2);
  const v1Paths = rec.cgroupPaths.filter((p) => !isV2(p));
  if (v1Paths.length) {
    const { v1Writes } = await import("../cgroups/v1.ts");
    applyWrites(
      v1Writes(r),
      (c) =>
        c === undefined ? v1Paths[0] : v1Paths.find((p) => p.split("/")[4]?.split(",").includes(c)),
      warn,
    );
  } else if (v2Path) {
    const { v2Writes } = await import("../cgroups/v2.ts");
    applyWrites(v2Writes(r), () => v2Path, warn);
  }
  rec.spec.linux.resources = { ...rec.spec.linux.resources, ...r };
}

const UPDATE_FLAGS: FlagDef[] = [
  {
    name: "resources",
    short: "r",
    value: true,
    meta: "FILE",
    help: "Resources JSON (- for stdin)",
  },
  { name: "memory", value: true, meta: "BYTES", help: "Memory limit" },
  { name: "memory-swap", value: true, meta: "BYTES", help: "Memory plus swap limit" },
  { name: "memory-reservation", value: true, meta: "BYTES", help: "Soft memory limit" },
  { name: "pids-limit", value: true, meta: "N", help: "Most processes at once" },
  { name: "cpu-shares", value: true, meta: "N", help: "CPU weight" },
  { name: "cpu-quota", value: true, meta: "USEC", help: "CFS quota" },
  { name: "cpu-period", value: true, meta: "USEC", help: "CFS period" },
  { name: "cpuset-cpus", value: true, meta: "LIST", help: "CPUs" },
  { name: "cpuset-mems", value: true, meta: "LIST", help: "Memory nodes" },
];

function num(flags: Record<string, unknown>, name: string): number | undefined {
  const v = flags[name] as string | undefined;
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw usageError(`--${name} takes an integer, not "${v}"`);
  return Number(v);
}

async function readResources(
  flags: Record<string, string | string[] | boolean | undefined>,
): Promise<Resources> {
  const file = flags.resources as string | undefined;
  let r: Resources = {};
  if (file) {
    const text = file === "-"
      ? new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer())
      : (() => {
        try {
          return Deno.readTextFileSync(absolute(file));
        } catch (e) {
          throw fromDenoError("read resources", file, e);
        }
      })();
    try {
      r = JSON.parse(text);
    } catch (e) {
      throw new ContainerError("parse resources", file, undefined, (e as Error).message);
    }
  }
  const memory = {
    limit: num(flags, "memory"),
    swap: num(flags, "memory-swap"),
    reservation: num(flags, "memory-reservation"),
  };
  if (Object.values(memory).some((v) => v !== undefined)) r.memory = { ...r.memory, ...memory };
  const pids = num(flags, "pids-limit");
  if (pids !== undefined) r.pids = { limit: pids };
  const cpu = {
    shares: num(flags, "cpu-shares"),
    quota: num(flags, "cpu-quota"),
    period: num(flags, "cpu-period"),
    cpus: flags["cpuset-cpus"] as string | undefined,
    mems: flags["cpuset-mems"] as string | undefined,
  };
  if (Object.values(cpu).some((v) => v !== undefined)) r.cpu = { ...r.cpu, ...cpu };
  for (const k of Object.keys(r) as (keyof Resources)[]) {
    if (r[k] === null) delete r[k];
  }
  for (const part of [r.memory, r.cpu] as Record<string, unknown>[]) {
    for (const k of Object.keys(part ?? {})) if (part[k] === undefined) delete part[k];
  }
  delete r.devices; // runc's update leaves device rules alone too
  return r;
}

export function needId(rest: string[], command: string): string {
  if (rest.length < 1) throw usageError(`${command} needs a container id`);
  return checkId(rest[0]);
}

async function dispatch(name: string, argv: string[]): Promise<number> {
  const s = store();
  switch (name) {
    case "create":
    case "run":
    case "exec":
      // Their module holds what making a process needs (the bundle loader, the
      // plan, the launch): start, state, kill and delete do not load it.
      return await (await import("./oci_create.ts")).main(name, argv);
    case "start": {
      const p = parse(argv, [], "start ID");
      if (!p) return 0;
      await doStart(needId(p.rest, "start"));
      return 0;
    }
    case "state": {
      const p = parse(argv, [], "state ID");
      if (!p) return 0;
      print(JSON.stringify(s.state(s.read(needId(p.rest, "state"))), null, 2));
      return 0;
    }
    case "kill": {
      const p = parse(
        argv,
        [{ name: "all", short: "a", help: "Signal every process of the container" }],
        "kill [--all] ID [SIGNAL]",
      );
      if (!p) return 0;
      const id = needId(p.rest, "kill");
      const rec = s.read(id);
      const signal = parseSignal(p.rest[1] ?? "SIGTERM");
      const status = s.status(rec);
      if (status === "stopped" || status === "creating") {
        throw new ContainerError("kill", id, undefined, "container not running");
      }
      signalAll(rec, signal, p.flags.all === true);
      return 0;
    }
    case "delete": {
      const p = parse(
        argv,
        [{ name: "force", short: "f", help: "Kill a running container first" }],
        "delete [--force] ID",
      );
      if (!p) return 0;
      const id = needId(p.rest, "delete");
      if (!s.has(id)) {
        // What an interrupted create left (no state.json) goes too, as in runc.
        s.remove(id);
        if (p.flags.force) return 0;
        throw new ContainerError("delete", id, undefined, "container does not exist");
      }
      const rec = s.read(id);
      const status = s.status(rec);
      if (status !== "stopped") {
        // The runtime spec: deleting a container that is not stopped is an
        // error, a created one included (runc kills that one instead).
        if (status !== "creating" && !p.flags.force) {
          throw new ContainerError(
            "delete",
            id,
            undefined,
            `cannot delete container ${id} that is not stopped: ${status}`,
          );
        }
        if (rec.pid) {
          signalAll(rec, K.SIGKILL, true);
          if (status === "paused") thaw(rec);
          if (!await waitGone(rec, 10000)) {
            throw new ContainerError("delete", id, undefined, "the container's init did not die");
          }
        }
      }
      await cleanUp(s, rec);
      return 0;
    }
    case "pause":
    case "resume": {
      const p = parse(argv, [], `${name} ID`);
      if (!p) return 0;
      const id = needId(p.rest, name);
      const rec = s.read(id);
      const status = s.status(rec);
      const want = name === "pause" ? "running" : "paused";
      if (status !== want && !(name === "pause" && status === "created")) {
        throw new ContainerError(name, id, undefined, `container not ${want}`);
      }
      const f = freezerFile(rec.cgroupPaths);
      if (!f) {
        throw new ContainerError(name, id, undefined, "the container's cgroup has no freezer");
      }
      const v1 = f.endsWith("freezer.state");
      const value = name === "pause" ? (v1 ? "FROZEN" : "1") : (v1 ? "THAWED" : "0");
      try {
        Deno.writeTextFileSync(f, value);
      } catch (e) {
        throw fromDenoError(name, f, e);
      }
      return 0;
    }
    case "ps": {
      const p = parse(argv, [
        { name: "format", short: "f", value: true, meta: "table|json", help: "Output format" },
      ], "ps [--format table|json] ID [PS_ARGS...]");
      if (!p) return 0;
      const rec = s.read(needId(p.rest, "ps"));
      const pids = [...new Set(rec.cgroupPaths.flatMap((c) => readPids(`${c}/cgroup.procs`)))]
        .sort((a, b) => a - b);
      if (!rec.cgroupPaths.length && s.status(rec) !== "stopped") pids.push(rec.pid);
      const format = (p.flags.format as string | undefined) ?? "table";
      if (format === "json") {
        print(JSON.stringify(pids));
        return 0;
      }
      if (format !== "table") throw usageError(`invalid format option: ${format}`);
      const out = await new Deno.Command("ps", {
        args: p.rest.length > 1 ? p.rest.slice(1) : ["-ef"],
        stdout: "piped",
      }).output();
      const lines = new TextDecoder().decode(out.stdout).split("\n");
      const pidCol = lines[0].trim().split(/\s+/).indexOf("PID");
      print(lines[0]);
      for (const line of lines.slice(1)) {
        if (pids.includes(Number(line.trim().split(/\s+/)[pidCol]))) print(line);
      }
      return 0;
    }
    case "list": {
      const p = parse(argv, [
        { name: "format", short: "f", value: true, meta: "table|json", help: "Output format" },
        { name: "quiet", short: "q", help: "Only ids" },
      ], "list [--format table|json] [-q]");
      if (!p) return 0;
      const states = s.ids().filter((id) => s.has(id)).map((id) => s.state(s.read(id)));
      if (p.flags.quiet) {
        for (const st of states) print(st.id);
      } else if (p.flags.format === "json") {
        print(JSON.stringify(states));
      } else {
        print(table([
          ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
          ...states.map((
            st,
          ) => [st.id, `${st.pid}`, st.status, st.bundle, st.created, st.owner || "root"]),
        ]));
      }
      return 0;
    }
    case "update": {
      const p = parse(argv, UPDATE_FLAGS, "update [OPTIONS] ID");
      if (!p) return 0;
      const rec = s.read(needId(p.rest, "update"));
      await applyResources(rec, await readResources(p.flags));
      s.write(rec);
      return 0;
    }
    case "features": {
      const p = parse(argv, [], "features");
      if (!p) return 0;
      // What features and spec need (the bundle loader's tables): only for them.
      const { features } = await import("../oci/features.ts");
      print(JSON.stringify(features(), null, 2));
      return 0;
    }
    case "spec": {
      const p = parse(argv, [
        {
          name: "bundle",
          short: "b",
          value: true,
          meta: "DIR",
          help: "Where to write config.json",
        },
        { name: "rootless", help: "Accepted; the file is the same" },
      ], "spec [--bundle DIR]");
      if (!p) return 0;
      const path = `${absolute((p.flags.bundle as string | undefined) ?? ".")}/config.json`;
      try {
        const { defaultConfig } = await import("../oci/features.ts");
        Deno.writeTextFileSync(path, `${JSON.stringify(defaultConfig(), null, 2)}\n`, {
          createNew: true,
        });
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) {
          throw new ContainerError(
            "spec",
            path,
            undefined,
            "File config.json exists. Remove it first",
          );
        }
        throw fromDenoError("write", path, e);
      }
      return 0;
    }
  }
  throw usageError(`unknown command ${name}`);
}

/** Runs runc's command `name`; errors also go to --log. */
export async function main(name: string, argv: string[]): Promise<number> {
  try {
    return await dispatch(name, argv);
  } catch (e) {
    log("error", (e as Error).message);
    throw e;
  }
}
