/**
 * Container state on disk: one folder per container under the state root
 * (/run/minicontainer, or --root), a state.json written atomically (write,
 * then rename), an exclusive lock for commands that change a container,
 * and a names/ folder whose entries make names unique (created O_EXCL).
 * @module
 */

import { writeFileAtomic } from "../atomic_file.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { readExitRecord } from "./exit_record.ts";
import type { Spec } from "../spec.ts";

/** Where state lives unless --root says otherwise. */
export const DEFAULT_STATE_ROOT = "/run/minicontainer";

/** What a container is doing. */
export type Status = "created" | "running" | "exited" | "unknown";

/** The state of one container, as stored. */
export interface ContainerState {
  id: string;
  name: string;
  status: Status;
  /** The container's PID 1 (init) in the host's PID namespace, while it runs. */
  pid?: number;
  /** /proc/PID/stat's start time of `pid`: a reused pid does not match it. */
  pidStart?: number;
  /** The supervisor's pid, for detached containers. */
  supervisorPid?: number;
  created: string;
  started?: string;
  finished?: string;
  exitCode?: number;
  oomKilled?: boolean;
  /** Remove everything once it exits (run --rm). */
  autoRemove?: boolean;
  detached?: boolean;
  init?: boolean;
  /** The command as given, for ps. */
  command: string[];
  spec: Spec;
  /** The log file of a detached container. */
  logPath?: string;
  /** The container's cgroup directories, for rm to remove if its supervisor died. */
  cgroupPaths?: string[];
  /** Cleanup the runtime must do at rm (image roots). */
  removeOnDelete?: string[];
  /** An image's overlayfs root, mounted by the supervisor in the container. */
  overlay?: { lower: readonly string[]; upper: string; work: string; volatile?: boolean };
  /** Signal `stop` sends first. */
  stopSignal?: string;
}

/** A state root: the folder holding every container's state. */
export class StateStore {
  constructor(readonly root: string = DEFAULT_STATE_ROOT) {}

  /** The folder of container `id`. */
  dir(id: string): string {
    return `${this.root}/${id}`;
  }

  private ensureRoot(): void {
    try {
      Deno.mkdirSync(`${this.root}/names`, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw fromDenoError("create state root", this.root, e);
    }
  }

  /** Every stored container id. */
  ids(): string[] {
    try {
      return [...Deno.readDirSync(this.root)]
        .filter((e) => e.isDirectory && /^[0-9a-f]{64}$/.test(e.name))
        .map((e) => e.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw fromDenoError("read state root", this.root, e);
    }
  }

  /** Reads a container's state; undefined when it is gone. */
  read(id: string): ContainerState | undefined {
    try {
      return withExitRecord(
        JSON.parse(Deno.readTextFileSync(`${this.dir(id)}/state.json`)),
        this.dir(id),
      );
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      if (e instanceof SyntaxError) return undefined;
      throw fromDenoError("read state", `${this.dir(id)}/state.json`, e);
    }
  }

  /** Writes a container's state atomically: readers see the old or the new file, whole. */
  write(state: ContainerState): void {
    // The state root is a tmpfs (/run) as a rule: no fsync, but a full one
    // fails here with ENOSPC and leaves the previous state whole.
    writeFileAtomic(
      `${this.dir(state.id)}/state.json`,
      JSON.stringify(state, null, 2),
      "write state",
      {
        sync: false,
      },
    );
  }

  /**
   * Creates a container's folder and claims its name. A name in use is an
   * error (exit 125) and nothing is left behind.
   */
  create(state: ContainerState): void {
    this.ensureRoot();
    const namePath = `${this.root}/names/${state.name}`;
    try {
      Deno.writeTextFileSync(namePath, state.id, { createNew: true });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        const owner = this.nameOwner(state.name);
        throw new ContainerError(
          "create container",
          state.name,
          undefined,
          `the name is already in use by container ${
            owner?.slice(0, 12) ?? "?"
          }; remove it or pick another name`,
        );
      }
      try {
        Deno.removeSync(namePath); // created, then the disk refused its content
      } catch { /* never created */ }
      throw fromDenoError("claim name", namePath, e);
    }
    try {
      Deno.mkdirSync(this.dir(state.id), { mode: 0o700 });
      this.write(state);
    } catch (e) {
      this.removeFiles(state.id, state.name);
      throw e;
    }
  }

  /** The id that holds `name`, if any. */
  nameOwner(name: string): string | undefined {
    try {
      return Deno.readTextFileSync(`${this.root}/names/${name}`).trim();
    } catch {
      return undefined;
    }
  }

  /** Removes a container's folder and name; idempotent. */
  removeFiles(id: string, name: string): void {
    try {
      Deno.removeSync(this.dir(id), { recursive: true });
    } catch { /* already gone */ }
    if (this.nameOwner(name) === id) {
      try {
        Deno.removeSync(`${this.root}/names/${name}`);
      } catch { /* already gone */ }
    }
  }

  /**
   * Runs `fn` holding container `id`'s lock (flock on its folder's lock
   * file), so two commands never change one container at once. Undefined
   * when the container is gone (before or while waiting for the lock).
   */
  async withLock<T>(
    id: string,
    fn: (state: ContainerState) => T | Promise<T>,
  ): Promise<T | undefined> {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(`${this.dir(id)}/lock`, { create: true, write: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw fromDenoError("open lock", `${this.dir(id)}/lock`, e);
    }
    try {
      await file.lock(true);
      const state = this.read(id);
      if (!state) return undefined;
      return await fn(state);
    } finally {
      file.close();
    }
  }

  /**
   * Finds a container by name, full id or unique id prefix. Unknown and
   * ambiguous references are errors naming the reference.
   */
  resolve(ref: string): string {
    if (!ref) throw new ContainerError("find container", '""', undefined, "no name or id given");
    const byName = this.nameOwner(ref);
    if (byName && this.read(byName)) return byName;
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = this.ids().filter((id) => id.startsWith(ref));
      if (matches.length === 1) return matches[0];
      if (matches.length > 1) {
        throw new ContainerError(
          "find container",
          ref,
          undefined,
          `the id prefix matches ${matches.length} containers; give more of it`,
        );
      }
    }
    throw new ContainerError("find container", ref, undefined, "no such container");
  }
}

/** `state` with the exit its supervisor recorded, when state.json could not take it (a full disk). */
function withExitRecord(state: ContainerState, dir: string): ContainerState {
  if (state.status === "exited" || !state.supervisorPid) return state;
  const exit = readExitRecord(dir);
  return exit ? { ...state, ...exit, status: "exited", pid: undefined } : state;
}

/** A new random 64-hex container id. */
export function newId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fond",
  "keen",
  "lucid",
  "merry",
  "quiet",
  "swift",
  "wise",
  "bold",
  "vivid",
];
const NOUNS = [
  "otter",
  "falcon",
  "cedar",
  "comet",
  "harbor",
  "lynx",
  "maple",
  "quartz",
  "raven",
  "tundra",
  "willow",
  "zephyr",
];

/** A generated name: adjective_noun plus a short suffix. */
export function generatedName(): string {
  const r = crypto.getRandomValues(new Uint16Array(3));
  return `${ADJECTIVES[r[0] % ADJECTIVES.length]}_${NOUNS[r[1] % NOUNS.length]}_${
    (r[2] % 1000).toString().padStart(3, "0")
  }`;
}

/** Names docker accepts: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
export function checkName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) || name.length > 128) {
    throw new ContainerError(
      "name",
      JSON.stringify(name),
      undefined,
      "names take letters, digits, _ . - and start with a letter or digit",
    );
  }
}
