/**
 * Assembles a small root filesystem offline, from what the host has: a
 * static busybox with one symlink per applet, or else the host's own shell
 * and tools with the shared libraries they load. Built beside its final
 * place and renamed into it, so a half-built tree is never used.
 * @module
 */

import { ContainerError, fromDenoError } from "../errors.ts";
import { readElfDeps, resolveSharedLibraries } from "./elf.ts";
import { isReady, READY_MARKER } from "./marker.ts";
import { ownerTag } from "../state/liveness.ts";
import { reclaimBuilds } from "./reclaim_builds.ts";

export { isReady, READY_MARKER } from "./marker.ts";

/**
 * The tools a host-built rootfs holds (those the host has): what the
 * README's examples and everyday scripts reach for, the host's copies of
 * busybox's most used applets.
 */
export const HOST_TOOLS = [
  // a shell and the commands scripts take for granted
  "sh",
  "true",
  "false",
  "echo",
  "printf",
  "test",
  "[",
  "env",
  "sleep",
  "kill",
  // files
  "cat",
  "ls",
  "cp",
  "mv",
  "rm",
  "ln",
  "mkdir",
  "rmdir",
  "touch",
  "chmod",
  "chown",
  "readlink",
  "stat",
  "find",
  "dd",
  "df",
  "du",
  "pwd",
  "basename",
  "dirname",
  // text
  "grep",
  "sed",
  "tr",
  "head",
  "tail",
  "wc",
  "cut",
  "sort",
  "uniq",
  "tee",
  "xargs",
  "seq",
  "expr",
  "yes",
  // the system
  "ps",
  "id",
  "whoami",
  "hostname",
  "uname",
  "date",
  "nproc",
  "mount",
  "umount",
  "ip",
  "timeout",
];

const BUSYBOX_CANDIDATES = [
  "/bin/busybox",
  "/usr/bin/busybox",
  "/sbin/busybox",
  "/usr/sbin/busybox",
];

/** What a build made. */
export interface BuildReport {
  dir: string;
  source: "busybox" | "host";
  files: number;
  /** Tools the host does not have (host builds). */
  missing: string[];
}

/** Build options. */
export interface BuildOptions {
  /** auto: busybox when the host has a static one, else the host's tools. */
  source?: "auto" | "busybox" | "host";
  log?: (line: string) => void;
}

/** The host's static busybox, if any. */
export function findStaticBusybox(): string | undefined {
  for (const path of BUSYBOX_CANDIDATES) {
    try {
      if (readElfDeps(path).isStatic) return path;
    } catch { /* absent, or not ELF */ }
  }
  return undefined;
}

/** The first `tool` on a standard PATH, as found (not resolved: that is where it goes). */
function which(tool: string): string | undefined {
  for (
    const dir of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
  ) {
    try {
      const path = `${dir}/${tool}`;
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

function skeleton(root: string): void {
  for (
    const d of [
      "bin",
      "sbin",
      "usr/bin",
      "usr/sbin",
      "etc",
      "root",
      "home",
      "proc",
      "sys",
      "dev",
      "run",
      "var/tmp",
      "tmp",
    ]
  ) {
    Deno.mkdirSync(`${root}/${d}`, { recursive: true });
  }
  Deno.chmodSync(`${root}/tmp`, 0o1777);
  Deno.chmodSync(`${root}/var/tmp`, 0o1777);
  Deno.chmodSync(`${root}/root`, 0o700);
  Deno.writeTextFileSync(
    `${root}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  Deno.writeTextFileSync(`${root}/etc/group`, "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
  Deno.writeTextFileSync(
    `${root}/etc/hosts`,
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
  );
  Deno.writeTextFileSync(`${root}/etc/resolv.conf`, "");
  // A mount point for the runtime's /etc/hostname (one a user namespace could not create).
  Deno.writeTextFileSync(`${root}/etc/hostname`, "");
}

/** Copies the file `from` resolves to into `root` at `as`, as a plain file. */
function copyFile(from: string, root: string, as = from): number {
  const target = `${root}${as}`;
  Deno.mkdirSync(target.slice(0, target.lastIndexOf("/")), { recursive: true });
  Deno.copyFileSync(Deno.realPathSync(from), target);
  // No setuid/setgid: a copy of the host's setuid mount would be one more
  // root-owned setuid binary on the host, one that never gets security updates.
  Deno.chmodSync(target, Deno.statSync(from).mode! & 0o777);
  return 1;
}

function relativeLink(fromDir: string, to: string): string {
  const up = fromDir.split("/").filter(Boolean).map(() => "..");
  return [...up, ...to.split("/").filter(Boolean)].join("/");
}

async function busyboxTree(root: string, busybox: string): Promise<number> {
  copyFile(busybox, root, "/bin/busybox");
  const out = await new Deno.Command(busybox, {
    args: ["--list-full"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim() || `exit status ${out.code}`;
    throw new ContainerError("list applets of", busybox, undefined, why);
  }
  let files = 1;
  for (const applet of new TextDecoder().decode(out.stdout).split("\n").filter(Boolean)) {
    const path = `/${applet}`;
    if (path === "/bin/busybox") continue;
    const dir = path.slice(0, path.lastIndexOf("/"));
    Deno.mkdirSync(`${root}${dir}`, { recursive: true });
    try {
      // Relative, so it resolves both on the host and inside the container.
      Deno.symlinkSync(relativeLink(dir, "/bin/busybox"), `${root}${path}`);
      files++;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
  return files;
}

function hostTree(root: string, log: (l: string) => void): { files: number; missing: string[] } {
  const missing: string[] = [];
  const binaries: string[] = [];
  let files = 0;
  for (const tool of HOST_TOOLS) {
    const path = which(tool);
    if (!path) {
      missing.push(tool);
      log(`rootfs: the host has no ${tool}; leaving it out`);
      continue;
    }
    // Same path as on the host, so a $ORIGIN run path still points at its libraries.
    files += copyFile(path, root);
    binaries.push(path);
  }
  const sh = binaries.find((b) => b.endsWith("/sh"));
  if (!sh) throw new ContainerError("build rootfs", root, undefined, "the host has no sh to copy");
  // /bin/sh is where everyone looks (passwd, `sh -c`), wherever the host keeps it.
  if (sh !== "/bin/sh") {
    Deno.symlinkSync(relativeLink("/bin", sh), `${root}/bin/sh`);
    files++;
  }
  // Each library at the path it is asked for (…/libc.so.6), the loader at its PT_INTERP path.
  for (const lib of resolveSharedLibraries(binaries)) files += copyFile(lib, root);
  return { files, missing };
}

/** Builds a root filesystem at `dir` (replacing none: a finished one there is kept). */
export async function buildRootfs(dir: string, opts: BuildOptions = {}): Promise<BuildReport> {
  const log = opts.log ?? (() => {});
  const source = opts.source ?? "auto";
  const busybox = source === "host" ? undefined : findStaticBusybox();
  if (source === "busybox" && !busybox) {
    throw new ContainerError(
      "build rootfs",
      dir,
      undefined,
      "no static busybox on this host (apt-get install busybox-static)",
    );
  }
  dir = (dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`).replace(/(.)\/+$/, "$1");
  const parent = dir.slice(0, dir.lastIndexOf("/")) || "/";
  const created = missingAncestors(parent);
  const undo = () => {
    for (const d of created) {
      try {
        Deno.removeSync(d); // only if still empty: a racing build may be using it
      } catch { /* not empty, or gone */ }
    }
  };
  let tmp: string;
  try {
    Deno.mkdirSync(parent, { recursive: true });
    reclaimBuilds(parent); // what killed builds left beside
    tmp = Deno.makeTempDirSync({ dir: parent, prefix: `.rootfs-build-${ownerTag()}-` });
  } catch (e) {
    undo();
    throw fromDenoError("create a build directory in", parent, e);
  }
  try {
    Deno.chmodSync(tmp, 0o755);
    skeleton(tmp);
    let report: BuildReport;
    if (busybox) {
      log(`rootfs: building ${dir} from ${busybox}`);
      report = { dir, source: "busybox", files: await busyboxTree(tmp, busybox), missing: [] };
    } else {
      const why = source === "auto" ? " (no static busybox)" : "";
      log(`rootfs: building ${dir} from the host's tools${why}`);
      report = { dir, source: "host", ...hostTree(tmp, log) };
    }
    Deno.writeTextFileSync(`${tmp}/${READY_MARKER}`, `${report.source}\n`);
    try {
      Deno.renameSync(tmp, dir);
    } catch (e) {
      // Another build finished first (or an old tree is there): keep it.
      if (isReady(dir)) {
        log(`rootfs: ${dir} was finished by another build; keeping that one`);
        Deno.removeSync(tmp, { recursive: true });
        return report;
      }
      if (e instanceof Deno.errors.AlreadyExists || (e as { code?: string }).code === "ENOTEMPTY") {
        throw new ContainerError(
          "build rootfs",
          dir,
          39,
          "the directory exists and is not a finished rootfs; remove it or pick another",
        );
      }
      throw e;
    }
    return report;
  } catch (e) {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch { /* nothing to clean */ }
    undo();
    throw e instanceof ContainerError ? e : fromDenoError("build rootfs", dir, e);
  }
}

/** The directories on the way to `dir` that do not exist yet, deepest first. */
function missingAncestors(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; d !== "" && d !== "/"; d = d.slice(0, d.lastIndexOf("/"))) {
    try {
      Deno.lstatSync(d);
      break;
    } catch {
      missing.push(d);
    }
  }
  return missing;
}
