/**
 * `deno task bench`: times `minicontainer run /bin/true` on the default
 * rootfs beside `runc run` on a bundle of the same rootfs (and crun and
 * bwrap when installed), alternating one run of each per round so that
 * machine noise hits every tool alike. Prints medians and ratios to runc.
 *
 * ROUNDS=n sets the number of measured rounds (default 40).
 * @module
 */

import { defaultMounts } from "../lib/container/default_spec.ts";
import { ensureDefaultRootfs } from "../lib/rootfs/default.ts";

const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 40);
const WARMUP = 3;
const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

async function runOnce(cmd: string[]): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "null",
    stderr: "piped",
  })
    .output();
  const ms = performance.now() - start;
  if (!out.success) {
    throw new Error(
      `${cmd.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
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

if (import.meta.main) {
  if (Deno.uid() !== 0) {
    console.error("bench: needs root (the runtimes create namespaces and mounts)");
    Deno.exit(1);
  }
  const rootfs = await ensureDefaultRootfs((l) => console.error(l));
  const bundle = ociBundle(rootfs);
  const tools: { name: string; cmd: (i: number) => string[] }[] = [
    { name: "minicontainer", cmd: () => [`${repo}/minicontainer`, "run", "/bin/true"] },
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
  // A peer that cannot run here (crun refuses hybrid cgroup hosts) is left
  // out with its reason rather than failing the whole comparison.
  for (const tool of [...tools]) {
    try {
      await runOnce(tool.cmd(-1));
    } catch (e) {
      console.log(`skipping ${tool.name}: ${(e as Error).message.split("\n")[0].trim()}`);
      tools.splice(tools.indexOf(tool), 1);
    }
  }
  const times = new Map(tools.map((t) => [t.name, [] as number[]]));
  try {
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      // Rotate the order each round so no tool always follows another.
      for (let k = 0; k < tools.length; k++) {
        const tool = tools[(round + k) % tools.length];
        const ms = await runOnce(tool.cmd(round));
        if (round >= WARMUP) times.get(tool.name)!.push(ms);
      }
    }
  } finally {
    Deno.removeSync(bundle, { recursive: true });
  }
  const base = times.has("runc") ? median(times.get("runc")!) : undefined;
  console.log(`run /bin/true, ${ROUNDS} alternating rounds (+${WARMUP} warm-up), rootfs ${rootfs}`);
  console.log("tool            median ms   min ms   ratio to runc");
  for (const t of tools) {
    const xs = times.get(t.name)!;
    const m = median(xs);
    const ratio = base ? (m / base).toFixed(2) + "x" : "-";
    console.log(
      `${t.name.padEnd(16)}${m.toFixed(1).padStart(9)}${
        Math.min(...xs).toFixed(1).padStart(9)
      }   ${ratio}`,
    );
  }
}
