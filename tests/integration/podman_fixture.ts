/**
 * A podman of its own in a temporary directory, driving minicontainer as its
 * OCI runtime: storage, run root, containers.conf and the runtime wrapper
 * there, and the busybox rootfs imported as localhost/bb:1. Shared by
 * oci_podman_test.ts and the bench; no side effects on import.
 * @module
 */

const decoder = new TextDecoder();

/** podman's exit code and output. */
export interface PodmanOut {
  code: number;
  stdout: string;
  stderr: string;
}

/** podman refuses a runroot of more than 50 characters: a short directory of its own. */
export function podmanHome(prefix = "mcpm-"): string {
  return Deno.makeTempDirSync({ dir: "/tmp", prefix });
}

/** podman's flags for the storage, run root and temporary files in `home`. */
export function podmanFlags(home: string): string[] {
  return [
    "--root",
    `${home}/storage`,
    "--runroot",
    `${home}/run`,
    "--tmpdir",
    `${home}/tmp`,
    "--storage-driver",
    "vfs",
  ];
}

/** The environment that points podman at `home`'s containers.conf. */
export function podmanEnv(home: string): Record<string, string> {
  return { CONTAINERS_CONF: `${home}/containers.conf` };
}

/** Runs podman with `home`'s storage and configuration. */
export async function podman(home: string, args: string[], stdin?: string): Promise<PodmanOut> {
  const child = new Deno.Command("podman", {
    args: [...podmanFlags(home), ...args],
    env: podmanEnv(home),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * Writes containers.conf naming minicontainer (`launcher`, with state root
 * `stateRoot`) as the default runtime, and imports `rootfs` (a directory)
 * as localhost/bb:1. Throws an Error saying which step failed.
 */
export async function setUpPodman(
  home: string,
  opts: { launcher: string; stateRoot: string; rootfs: string },
): Promise<void> {
  Deno.mkdirSync(`${home}/tmp`, { recursive: true });
  Deno.writeTextFileSync(
    `${home}/containers.conf`,
    [
      "[containers]",
      // Rootful podman's defaults (nofile and nproc 1048576) are above this
      // machine's hard limits: every runtime fails them.
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      "[engine]",
      'runtime = "minicontainer"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      // podman passes --log-format=json --log FILE only to runtimes listed here.
      'runtime_supports_json = ["crun", "runc", "minicontainer"]',
      "[engine.runtimes]",
      `minicontainer = ["${home}/minicontainer"]`,
      "",
    ].join("\n"),
  );
  // The launcher with the given state root: conmon passes no environment
  // on, and podman calls `delete` without its --runtime-flag.
  Deno.writeTextFileSync(
    `${home}/minicontainer`,
    `#!/bin/sh\nMINICONTAINER_ROOT='${opts.stateRoot}' exec '${opts.launcher}' "$@"\n`,
    { mode: 0o755 },
  );
  const tar = await new Deno.Command("tar", {
    args: ["-C", opts.rootfs, "-cf", `${home}/rootfs.tar`, "."],
  }).output();
  if (!tar.success) throw new Error(`tar of ${opts.rootfs}: ${decoder.decode(tar.stderr)}`);
  const imported = await podman(home, ["import", `${home}/rootfs.tar`, "localhost/bb:1"]);
  if (imported.code !== 0) throw new Error(`podman import: ${imported.stderr.trim()}`);
}
