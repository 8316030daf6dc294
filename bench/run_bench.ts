/**
 * `deno task bench`: times `minicontainer run --rm /bin/true` on the default
 * rootfs beside `runc run` on a bundle of the same rootfs (and crun and
 * bwrap when installed), alternating one run of each per round so that
 * machine noise hits every tool alike. Prints medians and ratios to runc.
 * Beside them, the floor of a start: `deno run` of an empty module with the
 * launcher's flags, and `ps`, `inspect`, `kill` and `stop` of nothing (an
 * empty state root), each compared to that floor.
 * A second table alternates the OCI lifecycle (`create` + `start` + wait +
 * `delete` of /bin/true on the bundle) beside runc's, and `run --rm
 * --network bridge` beside `--network none`; a third, when podman is
 * installed, `podman run --rm` with minicontainer as its runtime beside
 * podman with runc, with `--network none` and `--network bridge`.
 *
 * ROUNDS=n sets the number of measured rounds (default 40; `deno task
 * bench:quick` runs 15, what a change to the run path reports);
 * PODMAN_ROUNDS=n those of the podman table (default 10: each is slow).
 * CPU=1 runs each command under `perf stat` and reports its median
 * task-clock (CPU milliseconds, steadier than wall time on a busy host).
 * STEPS=1 instead runs `run --debug /bin/true` ROUNDS times and prints the
 * median of each step of its timeline (parent lines, and the child's ops
 * between two parent lines as one step).
 * @module
 */

import { defaultMounts } from "../lib/container/default_spec.ts";
import { ensureDefaultRootfs } from "../lib/rootfs/default.ts";
import { removeCgroupTree } from "../tests/integration/cgroup_tree.ts";
import {
  podman,
  podmanEnv,
  podmanFlags,
  podmanHome,
  setUpPodman,
} from "../tests/integration/podman_fixture.ts";

const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 40);
const PODMAN_ROUNDS = Number(Deno.env.get("PODMAN_ROUNDS") ?? 10);
const CPU = Deno.env.get("CPU") === "1";
const WARMUP = 3;
const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const launcher = `${repo}/minicontainer`;

function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

const perf = CPU ? which("perf") : undefined;

/** One run: wall milliseconds, CPU milliseconds under CPU=1, stderr. */
interface Sample {
  wall: number;
  cpu?: number;
  stderr: string;
}

async function runOnce(
  cmd: string[],
  okCodes: number[] = [0],
  env?: Record<string, string>,
): Promise<Sample> {
  const cpuFile = perf ? Deno.makeTempFileSync({ prefix: "mc-bench-perf-" }) : undefined;
  const argv = cpuFile
    ? [perf!, "stat", "-x,", "-e", "task-clock", "-o", cpuFile, "--", ...cmd]
    : cmd;
  const start = performance.now();
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const wall = performance.now() - start;
  const stderr = new TextDecoder().decode(out.stderr);
  if (!okCodes.includes(out.code)) {
    throw new Error(`${cmd.join(" ")} failed (${out.code}): ${stderr}`);
  }
  let cpu: number | undefined;
  if (cpuFile) {
    const line = Deno.readTextFileSync(cpuFile).split("\n").find((l) => l.includes("task-clock"));
    cpu = Number(line?.split(",")[0]);
    Deno.removeSync(cpuFile);
  }
  return { wall, cpu, stderr };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs WARMUP + rounds rounds of every row, one of each per round in an
 * order rotated each round so that no row always follows another; the
 * measured rounds' results per row name.
 */
async function alternate<T>(
  rounds: number,
  rows: { name: string; once: (round: number) => Promise<T> }[],
): Promise<Map<string, T[]>> {
  const results = new Map(rows.map((r) => [r.name, [] as T[]]));
  for (let round = 0; round < WARMUP + rounds; round++) {
    for (let k = 0; k < rows.length; k++) {
      const row = rows[(round + k) % rows.length];
      const result = await row.once(round);
      if (round >= WARMUP) results.get(row.name)!.push(result);
    }
  }
  return results;
}

/** A row of the second and third tables: one timed operation, compared to `peer`'s. */
interface Row {
  name: string;
  peer?: string;
  once: (round: number) => Promise<number>;
}

/** Keeps the rows whose first try (round -1) works; one sentence for each other. */
async function usable(rows: Row[]): Promise<Row[]> {
  const ok: Row[] = [];
  for (const row of rows) {
    try {
      await row.once(-1);
      ok.push(row);
    } catch (e) {
      console.log(`skipping ${row.name}: ${(e as Error).message.split("\n")[0].trim()}`);
    }
  }
  // A row whose peer was skipped is still shown, without a ratio.
  for (const row of ok) if (!ok.some((p) => p.name === row.peer)) row.peer = undefined;
  return ok;
}

/** Alternates `rows` and prints their medians, each beside its peer's. */
async function table(title: string, rounds: number, rows: Row[]): Promise<void> {
  if (rows.length === 0) return;
  const before = await loadAverage();
  const times = await alternate(rounds, rows);
  console.log(`\n${title}: ${rounds} alternating rounds (+${WARMUP} warm-up)`);
  console.log(`load average before ${before}, after ${await loadAverage()}`);
  const width = Math.max(...rows.map((r) => r.name.length)) + 2;
  console.log(`${"row".padEnd(width)}median ms   min ms   vs peer`);
  for (const row of rows) {
    const m = median(times.get(row.name)!);
    const ratio = row.peer ? `${(m / median(times.get(row.peer)!)).toFixed(2)}x` : "-";
    console.log(
      `${row.name.padEnd(width)}${m.toFixed(1).padStart(9)}${
        Math.min(...times.get(row.name)!).toFixed(1).padStart(9)
      }${ratio.padStart(10)}${row.peer ? `  (${row.peer})` : ""}`,
    );
  }
}

async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
}

/** "run's modules loaded, flags parsed" from "[parent +12.3 ms] ...", ids and numbers blanked. */
function stepName(text: string): string {
  return text.replace(/ from file:[^,\s]+/, "").replace(
    /\/[^ ]*minicontainer-[0-9a-f]+/g,
    "<cgroup>",
  )
    .replace(
      /\b[0-9a-f]{12,}\b/g,
      "<id>",
    )
    .replace(/\d+/g, "N");
}

/**
 * STEPS=1: the timeline of `run --debug /bin/true`. Each parent step is the
 * time from the parent line before it to its own; the first counts from the
 * bench's exec of the launcher (MINICONTAINER_T0), and "after the last
 * line" is the rest of the wall time the bench saw (Deno's exit). The child's
 * ops run beside the parent: two spans of its own are shown apart.
 * COMPARE=/path/to/another/minicontainer alternates runs of both launchers
 * (another checkout: before and after a change) and prints a column each.
 */
async function steps(): Promise<void> {
  const launchers = [launcher, ...(Deno.env.get("COMPARE") ? [Deno.env.get("COMPARE")!] : [])];
  const per = launchers.map(() => new Map<string, number[]>());
  const order: string[] = [];
  const add = (i: number, name: string, ms: number) => {
    if (!order.includes(name)) order.push(name);
    if (!per[i].has(name)) per[i].set(name, []);
    per[i].get(name)!.push(ms);
  };
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (let k = 0; k < launchers.length; k++) {
      const i = (round + k) % launchers.length;
      // The timeline's zero: now, before the exec (the launcher passes it on;
      // dash, unlike bash, has no clock of its own to read without a fork).
      const t0 = ((performance.timeOrigin + performance.now()) / 1000).toFixed(6);
      const sample = await runOnce(
        [launchers[i], "run", "--rm", "--debug", "/bin/true"],
        [0],
        { MINICONTAINER_T0: t0 },
      );
      if (round < WARMUP) continue;
      const lines = sample.stderr.split("\n").flatMap((l) => {
        const m = /^\[(parent|child) \+([\d.]+) ms\] (.*)$/.exec(l);
        return m ? [{ who: m[1], t: Number(m[2]), text: m[3] }] : [];
      });
      const parent = lines.filter((l) => l.who === "parent");
      const child = lines.filter((l) => l.who === "child");
      parent.forEach((l, n) =>
        add(
          i,
          n === 0 ? `exec, launcher, Deno start, to "${stepName(l.text)}"` : stepName(l.text),
          l.t - (n === 0 ? 0 : parent[n - 1].t),
        )
      );
      const last = parent[parent.length - 1]?.t ?? 0;
      add(i, "after the last line (exit)", sample.wall - last);
      add(i, "total wall", sample.wall);
      const planned = parent.find((l) => l.text.startsWith("plan has"));
      const released = parent.find((l) => l.text === "released");
      const exec = child.find((l) => l.text.startsWith("execve"));
      if (planned && child[0]) {
        add(i, "  (child: plan encoded to its first op)", child[0].t - planned.t);
      }
      if (released && exec) {
        add(i, `  (child: released to execve, ${child.length} ops)`, exec.t - released.t);
      }
    }
  }
  console.log(
    `run --debug /bin/true, ${ROUNDS} runs each (+${WARMUP} warm-up); load ${await loadAverage()}`,
  );
  console.log(
    ["this tree", "COMPARE"].slice(0, launchers.length).map((l) => l.padStart(12)).join(" ") +
      "  step (median ms)",
  );
  for (const name of order) {
    if (per.some((m) => (m.get(name)?.length ?? 0) * 2 < ROUNDS)) continue; // only some runs
    console.log(
      per.map((m) => median(m.get(name)!).toFixed(2).padStart(12)).join(" ") + `  ${name}`,
    );
  }
}

function ociBundle(rootfs: string): string {
  const dir = Deno.makeTempDirSync({ prefix: "mc-bench-" });
  const config = {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ["/bin/true"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: "/",
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: false },
    hostname: "bench",
    // The same mounts minicontainer gives its containers, for a like-for-like start.
    mounts: defaultMounts(),
    linux: {
      namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type })),
    },
  };
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config, null, 2));
  return dir;
}

/** Runs one step of a lifecycle; throws with its stderr unless it exits 0. */
async function step(cmd: string[], stderr: "piped" | "null" = "piped"): Promise<void> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "null",
    stderr,
  }).output();
  if (!out.success) {
    const why = stderr === "piped" ? `: ${new TextDecoder().decode(out.stderr).trim()}` : "";
    throw new Error(`${cmd[1]} exited ${out.code}${why}`);
  }
}

/** Resolves once `pid` has exited (gone, or a zombie not yet reaped). */
async function exited(pid: number): Promise<void> {
  for (;;) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return;
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * `create` + `start` + wait for the init to exit + `delete` of the bundle's
 * /bin/true with an OCI runtime's command line: wall milliseconds. The wait
 * watches the pid file's process (what `runc run` waits on), so that no
 * runtime pays for polling its own `state`.
 */
async function lifecycle(runtime: string, bundle: string, id: string): Promise<number> {
  const pidFile = `${bundle}/${id}.pid`;
  const start = performance.now();
  try {
    // The init keeps create's stdio until it exits: a pipe would make
    // create's output() wait for the container.
    await step([runtime, "create", "--bundle", bundle, "--pid-file", pidFile, id], "null");
    const pid = Number(Deno.readTextFileSync(pidFile));
    await step([runtime, "start", id]);
    await exited(pid);
    await step([runtime, "delete", "--force", id]);
    return performance.now() - start;
  } catch (e) {
    await step([runtime, "delete", "--force", id], "null").catch(() => {});
    throw e;
  } finally {
    Deno.removeSync(pidFile, { recursive: true });
  }
}

/** Whether a network interface named `name` exists on the host. */
function hasLink(name: string): boolean {
  try {
    Deno.statSync(`/sys/class/net/${name}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The OCI lifecycle beside runc's, and `run --network bridge` beside
 * `--network none`. The bridge network is left as it was found: removed
 * again if this bench made it.
 */
async function lifecycleAndNetworkTable(bundle: string): Promise<void> {
  const rows: Row[] = [];
  const runc = which("runc");
  const id = (tool: string, round: number) => `mc-bench-${tool}-${Deno.pid}-${round}`;
  rows.push({
    name: "minicontainer create+start+delete",
    peer: runc ? "runc create+start+delete" : undefined,
    once: (round) => lifecycle(launcher, bundle, id("oci", round)),
  });
  if (runc) {
    rows.push({
      name: "runc create+start+delete",
      once: (round) => lifecycle(runc, bundle, id("runc", round)),
    });
  } else console.log("skipping runc create+start+delete: runc is not installed");
  const hadBridge = (await new Deno.Command(launcher, {
    args: ["network", "inspect", "bridge"],
    stdout: "null",
    stderr: "null",
  }).output()).success;
  const timed = (args: string[]) => async () =>
    (await runOnce([launcher, "run", "--rm", ...args, "/bin/true"])).wall;
  rows.push({
    name: "minicontainer run --network bridge",
    peer: "minicontainer run --network none",
    once: timed(["--network", "bridge"]),
  });
  rows.push({ name: "minicontainer run --network none", once: timed(["--network", "none"]) });
  try {
    await table("OCI lifecycle and networks", ROUNDS, await usable(rows));
  } finally {
    if (!hadBridge) await step([launcher, "network", "rm", "bridge"]).catch(() => {});
  }
}

/**
 * `podman run --rm` of the default rootfs's image with minicontainer as its
 * runtime beside podman with runc, on `--network none` and `--network
 * bridge`. podman's storage, run root, configuration and minicontainer's
 * state root live in a temporary directory, removed at the end with the
 * containers' cgroups (and podman's bridge, if this bench made it).
 */
async function podmanTable(rootfs: string): Promise<void> {
  if (!which("podman")) {
    console.log("\nskipping the podman rows: podman is not installed");
    return;
  }
  const home = podmanHome("mc-bench-pm-");
  const parent = `mc-bench-podman-${Deno.pid}`;
  const hadBridge = hasLink("cni-podman0");
  try {
    try {
      await setUpPodman(home, { launcher, stateRoot: `${home}/state`, rootfs });
    } catch (e) {
      console.log(`\nskipping the podman rows: ${(e as Error).message.split("\n")[0]}`);
      return;
    }
    const runc = which("runc");
    const row = (runtime: "minicontainer" | "runc", network: string): Row => ({
      name: `podman (${runtime}) run --network ${network}`,
      peer: runtime === "minicontainer" ? `podman (runc) run --network ${network}` : undefined,
      once: async () =>
        (await runOnce(
          [
            "podman",
            ...podmanFlags(home),
            ...(runtime === "runc" ? ["--runtime", runc!] : []),
            "run",
            "--rm",
            "--network",
            network,
            "--cgroup-parent",
            `/${parent}`,
            "localhost/bb:1",
            "true",
          ],
          [0],
          podmanEnv(home),
        )).wall,
    });
    const rows = ["none", "bridge"].flatMap((network) => [
      row("minicontainer", network),
      ...(runc ? [row("runc", network)] : []),
    ]);
    if (!runc) console.log("skipping podman with runc: runc is not installed");
    await table("podman run --rm IMAGE true", PODMAN_ROUNDS, await usable(rows));
  } finally {
    await podman(home, ["rm", "--all", "--force", "--time", "0"]);
    await removeCgroupTree(parent);
    if (!hadBridge && hasLink("cni-podman0")) {
      await step(["ip", "link", "del", "cni-podman0"]).catch(() => {});
    }
    // podman's run root may hold mounts of its own (netns, shm): off first.
    const mounts = Deno.readTextFileSync("/proc/self/mounts").split("\n")
      .map((l) => l.split(" ")[1]).filter((m) => m?.startsWith(`${home}/`)).reverse();
    for (const m of mounts) await step(["umount", "-l", m]).catch(() => {});
    Deno.removeSync(home, { recursive: true });
  }
}

if (import.meta.main) {
  if (Deno.uid() !== 0) {
    console.error("bench: needs root (the runtimes create namespaces and mounts)");
    Deno.exit(1);
  }
  const rootfs = await ensureDefaultRootfs((l) => console.error(l));
  if (Deno.env.get("STEPS") === "1") {
    await steps();
    Deno.exit(0);
  }
  const bundle = ociBundle(rootfs);
  const empty = Deno.makeTempDirSync({ prefix: "mc-bench-state-" });
  Deno.writeTextFileSync(`${empty}/empty.ts`, "");
  const deno = Deno.execPath();
  const tools: { name: string; cmd: (i: number) => string[]; ok?: number[]; floor?: boolean }[] = [
    { name: "minicontainer", cmd: () => [launcher, "run", "--rm", "/bin/true"] },
  ];
  const runc = which("runc");
  if (runc) {
    tools.push({
      name: "runc",
      cmd: (i) => [runc, "run", "-b", bundle, `mc-bench-runc-${Deno.pid}-${i}`],
    });
  }
  const crun = which("crun");
  if (crun) {
    tools.push({
      name: "crun",
      cmd: (i) => [crun, "run", "-b", bundle, `mc-bench-crun-${Deno.pid}-${i}`],
    });
  }
  const bwrap = which("bwrap");
  if (bwrap) {
    tools.push({
      name: "bwrap",
      cmd: () => [
        bwrap,
        "--unshare-all",
        "--bind",
        rootfs,
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "/bin/true",
      ],
    });
  }
  // The floor: Deno itself with the launcher's flags on an empty module,
  // then verbs that find nothing to do (an empty state root).
  const flags = [
    "run",
    "--allow-all",
    "--quiet",
    "--v8-flags=--min-semi-space-size=4,--no-lazy",
    "--config",
    `${repo}/deno.json`,
  ];
  tools.push({ name: "deno run empty", cmd: () => [deno, ...flags, `${empty}/empty.ts`] });
  tools.push({ name: "ps", cmd: () => [launcher, "--root", empty, "ps"], floor: true });
  for (const verb of ["inspect", "kill", "stop"]) {
    tools.push({
      name: `${verb} nothing`,
      cmd: () => [launcher, "--root", empty, verb, "mc-bench-none"],
      ok: [125],
      floor: true,
    });
  }
  // A peer that cannot run here (crun refuses hybrid cgroup hosts) is left
  // out with its reason rather than failing the whole comparison.
  for (const tool of [...tools]) {
    try {
      await runOnce(tool.cmd(-1), tool.ok);
    } catch (e) {
      console.log(`skipping ${tool.name}: ${(e as Error).message.split("\n")[0].trim()}`);
      tools.splice(tools.indexOf(tool), 1);
    }
  }
  const load = [await loadAverage()];
  let times: Map<string, Sample[]>;
  try {
    times = await alternate(
      ROUNDS,
      tools.map((t) => ({ name: t.name, once: (round) => runOnce(t.cmd(round), t.ok) })),
    );
  } catch (e) {
    Deno.removeSync(bundle, { recursive: true });
    throw e;
  } finally {
    Deno.removeSync(empty, { recursive: true });
  }
  load.push(await loadAverage());
  const wall = (name: string) => median(times.get(name)?.map((x) => x.wall) ?? [NaN]);
  const runcMs = times.has("runc") ? wall("runc") : undefined;
  const floorMs = wall("deno run empty");
  console.log(`${ROUNDS} alternating rounds (+${WARMUP} warm-up), rootfs ${rootfs}`);
  console.log(`load average before ${load[0]}, after ${load[1]}`);
  console.log(
    `tool            median ms   min ms   vs runc   vs deno run empty${CPU ? "   cpu ms" : ""}`,
  );
  for (const t of tools) {
    const xs = times.get(t.name)!;
    const m = wall(t.name);
    const ratio = runcMs && !t.floor && !t.name.startsWith("deno")
      ? `${(m / runcMs).toFixed(2)}x`
      : "-";
    const above = t.name === "deno run empty" ? "-" : `${(m - floorMs).toFixed(1)} ms`;
    const cpu = CPU ? median(xs.map((x) => x.cpu!)).toFixed(1).padStart(9) : "";
    console.log(
      `${t.name.padEnd(16)}${m.toFixed(1).padStart(9)}${
        Math.min(...xs.map((x) => x.wall)).toFixed(1).padStart(9)
      }${ratio.padStart(10)}${above.padStart(20)}${cpu}`,
    );
  }
  try {
    await lifecycleAndNetworkTable(bundle);
  } finally {
    Deno.removeSync(bundle, { recursive: true });
  }
  await podmanTable(rootfs);
}
