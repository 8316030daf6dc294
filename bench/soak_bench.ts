/**
 * `deno task bench:soak`: `minicontainer run /bin/true` N times in a row
 * (SOAK_RUNS, default 500) in a data and state directory of its own, then
 * what is left: cgroups, journal entries, container folders and
 * directories, image store scratch, mounts. Prints the per-run time (median, p95, max)
 * and each leftover count, which should all be 0.
 * @module
 */

import { ownCgroups } from "../lib/cgroups/layout.ts";

const RUNS = Number(Deno.env.get("SOAK_RUNS") ?? 500);
const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function ls(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Container cgroups under this process's own cgroup, in the hierarchies
 * where it has one of its own (under "/" other runtimes' containers would
 * count too): a run's cgroup goes under the runtime's, which is ours.
 */
function ownContainerCgroups(): string[] {
  const found: string[] = [];
  for (const m of ownCgroups()) {
    if (m.path === "/") continue;
    const mount = m.id === 0
      ? (ls("/sys/fs/cgroup").includes("unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup")
      : `/sys/fs/cgroup/${m.controllers.join(",")}`;
    const dir = `${mount}${m.path}`;
    for (const name of ls(dir)) if (name.startsWith("minicontainer-")) found.push(`${dir}/${name}`);
  }
  return found;
}

if (import.meta.main) {
  if (Deno.uid() !== 0) {
    console.error("bench:soak: needs root (containers get cgroups and mounts)");
    Deno.exit(1);
  }
  const home = Deno.makeTempDirSync({ prefix: "mc-soak-" });
  Deno.chmodSync(home, 0o755);
  const env = { MINICONTAINER_DATA: `${home}/data`, MINICONTAINER_ROOT: `${home}/state` };
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo");
  const cgroupsBefore = new Set(ownContainerCgroups());
  const run = async () => {
    const start = performance.now();
    const out = await new Deno.Command(`${repo}/minicontainer`, {
      args: ["run", "--rm", "/bin/true"],
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`run failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
    }
    return performance.now() - start;
  };
  try {
    await run(); // builds the default rootfs
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push(await run());
    const left = {
      cgroups: ownContainerCgroups().filter((p) => !cgroupsBefore.has(p)).length,
      journal: ls(`${home}/state/owners`).length,
      folders: ls(`${home}/state`).filter((n) => !["names", "owners"].includes(n)).length,
      containerDirs: ls(`${home}/data/containers`).length,
      imageScratch: ls(`${home}/data/images/layers`).filter((n) => n.startsWith(".")).length,
      mounts: Deno.readTextFileSync("/proc/self/mountinfo") === mounts ? 0 : 1,
    };
    console.log(`run /bin/true x${RUNS}, one after another, data and state in ${home}`);
    console.log(
      `per run: median ${percentile(times, 50).toFixed(1)} ms, p95 ${
        percentile(times, 95).toFixed(1)
      } ms, max ${Math.max(...times).toFixed(1)} ms`,
    );
    console.log(
      `leftovers: ${
        Object.entries(left).map(([k, v]) => `${k} ${v}`).join(", ")
      } (mounts: 1 if the host's table changed)`,
    );
    if (Object.values(left).some((v) => v !== 0)) Deno.exitCode = 1;
  } finally {
    Deno.removeSync(home, { recursive: true });
  }
}
