/**
 * Helpers for integration tests: they drive the real launcher, as a user
 * does, and look at the host afterwards.
 * @module
 */

/**
 * The suite's own data and state directories (default rootfs, images,
 * containers), made once per test process in a temporary directory: a test
 * never reads or writes the user's /var/lib/minicontainer or
 * /run/minicontainer. Every command the tests start inherits them.
 */
export const TEST_HOME: string = (() => {
  const home = Deno.makeTempDirSync({ prefix: "minicontainer-test-" });
  // Traversable like /var/lib: a remapped container root must reach its rootfs.
  Deno.chmodSync(home, 0o755);
  Deno.env.set("MINICONTAINER_DATA", `${home}/data`);
  Deno.env.set("MINICONTAINER_ROOT", `${home}/state`);
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(home, { recursive: true });
    } catch { /* a container's files still held: left for the OS's tmp cleaning */ }
  });
  return home;
})();

/**
 * The environment of a command run as nobody (65534) with `home` as its
 * HOME, data and state: nobody cannot use the suite's root-owned ones.
 */
export function nobodyEnv(home: string): Record<string, string> {
  return {
    DENO_DIR: `${home}/deno`,
    HOME: home,
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    MINICONTAINER_DATA: `${home}/data`,
    MINICONTAINER_ROOT: `${home}/state`,
  };
}

/** A temporary HOME owned by nobody (65534), traversable: remove it when done. */
export function nobodyHome(): string {
  const home = Deno.makeTempDirSync({ prefix: "mc-nobody-" });
  Deno.chmodSync(home, 0o755);
  Deno.chownSync(home, 65534, 65534);
  return home;
}

/**
 * Runs `minicontainer ARGS...` as nobody with exactly `env` (no variable of
 * this process leaks in: rootless code paths must not depend on them).
 */
export async function mcAsNobody(args: string[], env: Record<string, string>): Promise<Result> {
  const out = await new Deno.Command("setpriv", {
    args: ["--reuid=65534", "--regid=65534", "--clear-groups", LAUNCHER, ...args],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Integration tests create namespaces and mounts: root only. */
export const IS_ROOT = Deno.uid() === 0;

/** Test options that skip, with the reason in the name, when not root. */
export function rootOnly(name: string): { name: string; ignore: boolean } {
  return { name: IS_ROOT ? name : `${name} (skipped: needs root)`, ignore: !IS_ROOT };
}

/** The repository root, with a trailing slash. */
export const REPO = new URL("../../", import.meta.url).pathname;
/** The launcher users run. */
export const LAUNCHER = `${REPO}minicontainer`;

/** What a finished command gave. */
export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/** Runs `minicontainer ARGS...` to completion. */
export async function mc(
  args: string[],
  opts: { stdin?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<Result> {
  const child = new Deno.Command(LAUNCHER, {
    args,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
    cwd: opts.cwd,
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Starts `minicontainer ARGS...` in the background. */
export function spawnMc(args: string[]): Deno.ChildProcess {
  return new Deno.Command(LAUNCHER, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
}

/** Starts `minicontainer ARGS`, SIGKILLs it after `ms` (unless it exited before), waits for it. */
export async function killAfter(args: string[], ms: number): Promise<void> {
  const child = new Deno.Command(LAUNCHER, { args, stdin: "null", stdout: "null", stderr: "null" })
    .spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited already */ }
  }, ms);
  await child.status;
  clearTimeout(timer);
}

/** The host's mount table, as mount points with their sources and types. */
export function hostMounts(): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").trim().split("\n").filter((line) => {
    // Another suite or runtime working at the same time keeps its containers'
    // mounts (network namespaces, roots) in its own temporary directory.
    const point = line.split(" ")[4];
    return !point.startsWith("/tmp/") || point.startsWith(`${TEST_HOME}/`);
  }).sort();
}

/**
 * Container cgroups there now that were not in `before`: what a test left
 * behind. Only additions count, so a cgroup another runtime removes meanwhile
 * is no failure of this test.
 */
export function newCgroups(before: readonly string[]): string[] {
  const had = new Set(before);
  return containerCgroups().filter((p) => !had.has(p));
}

/** Pids of host processes whose whole command line is `marker` (args joined by spaces). */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ").trim();
      if (cmdline === marker) found.push(Number(e.name));
    } catch { /* gone */ }
  }
  return found;
}

/** Waits until `check` is true, polling; throws after `ms`. */
export async function waitFor(
  check: () => boolean,
  ms = 10_000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every container cgroup directory on the host, in any hierarchy. */
export function containerCgroups(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory) continue;
      if (e.name.startsWith("minicontainer-")) found.push(`${dir}/${e.name}`);
      else walk(`${dir}/${e.name}`, depth + 1);
    }
  };
  walk("/sys/fs/cgroup", 0);
  return found;
}

/** Runs a shell script; fails the test (with its stderr) unless it exits 0; its stdout. */
export async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (out.code !== 0) {
    throw new Error(
      `${script.slice(0, 200)} exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

export { removeCgroupTree } from "./cgroup_tree.ts";

/**
 * A test with a state root of its own, so real containers are never
 * touched: `m` runs the launcher with `--root` that root. Afterwards every
 * container is removed, and the test fails if state, a mount or a cgroup
 * of one of its containers was left behind (others' come and go meanwhile).
 */
export function withStateRoot(
  name: string,
  body: (
    m: (args: string[], opts?: Parameters<typeof mc>[1]) => Promise<Result>,
    root: string,
  ) => Promise<void>,
): void {
  const layout = ["names", "owners"];
  Deno.test({
    ...rootOnly(name),
    async fn() {
      const root = Deno.makeTempDirSync({ prefix: "mc-state-" });
      const m = (args: string[], opts?: Parameters<typeof mc>[1]) =>
        mc(["--root", root, ...args], opts);
      let problem = "";
      try {
        await body(m, root);
      } finally {
        const ids = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) =>
          /^[0-9a-f]{64}$/.test(n)
        );
        for (const id of ids) await m(["rm", "-f", id]);
        const left = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) =>
          !layout.includes(n)
        );
        Deno.removeSync(root, { recursive: true });
        const ours = (line: string) => ids.some((id) => line.includes(id));
        if (left.length) problem = `state left behind: ${left}`;
        else if (hostMounts().some(ours)) problem = "a container's mount was left behind";
        else if (containerCgroups().some(ours)) problem = "a container cgroup was left behind";
      }
      if (problem) throw new Error(problem);
    },
  });
}
