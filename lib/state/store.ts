/**
 * Container state on disk: one folder per container under the state root
 * (/run/minicontainer, or --root), a state.json written atomically (write,
 * then rename), an exclusive lock for commands that change a container,
 * and a names/ index from names to ids (see {@link StateStore}).
 * @module
 */

import { writeFileAtomic } from "../atomic_file.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import { readExitRecord } from "./exit_record.ts";
import type { Spec } from "../spec.ts";
import { ownerAlive, ownerTag } from "./liveness.ts";
import type { NetSetup } from "../net/etc_files.ts";

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
  /** The monitor's pid, for detached containers (ffi/monitor.c). */
  supervisorPid?: number;
  /** The start time of `supervisorPid` (see pidStart). */
  supervisorStart?: number;
  /** The container has a pty (run -t): attach works. */
  tty?: boolean;
  /** -i with -d or create: its stdin stays open for attach clients (a pipe without a pty). */
  openStdin?: boolean;
  /** Log rotation of a detached container. */
  log?: { maxSize: number; maxFiles: number };
  /** --restart. */
  restart?: { name: "no" | "on-failure" | "always" | "unless-stopped"; max?: number };
  /** Restarts so far under the policy. */
  restartCount?: number;
  /** `stop` was asked: the restart policy does not start it again. */
  stoppedByUser?: boolean;
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
  /** Its networking (lib/net): the supervisor attaches it, rm reclaims it. */
  net?: { setup: NetSetup; attach: boolean };
}

/** A container whose state.json cannot be read (truncated, garbled, missing). */
export interface UnreadableState {
  id: string;
  /** From the container's own `name` file, else the names index; "" when neither says. */
  name: string;
  /** Why it cannot be read, one sentence. */
  reason: string;
}

/** A container directory a dead command was creating or removing (see {@link StateStore.reclaim}). */
export interface DeadEntry {
  id: string;
  /** Where it is now (a `.new-` or `.rm-` directory). */
  path: string;
  /** The state it held, when readable: what else the container had (cgroups, image root). */
  state?: ContainerState;
}

const TEMP = /^\.(new|rm)-(\d+-\d+)-([0-9a-f]{64})$/;

/**
 * A state root: the folder holding every container's state.
 *
 * Crash-consistent layout: a container's folder `ROOT/ID` appears complete
 * or not at all (built as `.new-PID-START-ID`, then renamed) and disappears
 * the same way (renamed to the tombstone `.rm-PID-START-ID`, then removed);
 * the PID-START of the process doing it lets the next command judge a half
 * done one dead and finish it ({@link reclaim}). The name lives in the
 * container's own folder (`name`, written once); `names/` is an index from
 * name to id, verified on use and rebuilt from the folders when it is
 * missing (`names/.complete` marks a whole one).
 */
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

  private entries(): string[] {
    try {
      return [...Deno.readDirSync(this.root)].filter((e) => e.isDirectory).map((e) => e.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw fromDenoError("read state root", this.root, e);
    }
  }

  /** Every stored container id (complete folders only). */
  ids(): string[] {
    return this.entries().filter((name) => /^[0-9a-f]{64}$/.test(name));
  }

  /** Reads a container's state; undefined when it is gone or cannot be read. */
  read(id: string): ContainerState | undefined {
    const got = this.readOrWhy(id);
    return "state" in got ? got.state : undefined;
  }

  /** A container's state, or why it cannot be read ("gone" when its folder is not there). */
  readOrWhy(id: string): { state: ContainerState } | UnreadableState | { gone: true } {
    const path = `${this.dir(id)}/state.json`;
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        try {
          Deno.lstatSync(this.dir(id));
        } catch {
          return { gone: true };
        }
        return { id, name: this.storedName(id), reason: "state.json is missing" };
      }
      throw fromDenoError("read state", path, e);
    }
    try {
      const state = JSON.parse(text) as ContainerState;
      if (state?.id !== id || typeof state.name !== "string" || !state.spec) {
        return { id, name: this.storedName(id), reason: "state.json is not a container's state" };
      }
      return { state: withExitRecord(state, this.dir(id)) };
    } catch {
      return { id, name: this.storedName(id), reason: "state.json is not valid JSON" };
    }
  }

  /** The name container `id` was created with: its `name` file, else the index. */
  private storedName(id: string): string {
    try {
      return Deno.readTextFileSync(`${this.dir(id)}/name`).trim();
    } catch { /* made before names were kept beside the state */ }
    try {
      for (const e of Deno.readDirSync(`${this.root}/names`)) {
        if (!e.name.startsWith(".") && this.indexEntry(e.name) === id) return e.name;
      }
    } catch { /* no index */ }
    return "";
  }

  /** Writes a container's state atomically: readers see the old or the new file, whole. */
  write(state: ContainerState): void {
    writeState(this.dir(state.id), state);
  }

  /**
   * Creates a container's folder, complete (state, name, lock file) or not
   * at all, and claims its name. A name in use is an error (exit 125) and
   * nothing is left behind.
   */
  async create(state: ContainerState): Promise<void> {
    this.ensureRoot();
    await this.withNamesLock(() => {
      this.ensureIndex();
      // The index answers fast; the containers' own names decide (an entry
      // deleted by hand must not let a second container take the name).
      const owner = this.nameOwner(state.name) ??
        this.ids().find((id) => (this.storedName(id) || this.read(id)?.name) === state.name);
      if (owner) throw nameInUse(state.name, owner);
      // The index entry first: a kill before the rename leaves an entry
      // naming no container, which the next claim finds stale.
      this.writeIndexEntry(state.name, state.id);
      const tmp = `${this.root}/.new-${ownerTag()}-${state.id}`;
      try {
        Deno.mkdirSync(tmp, { mode: 0o700 });
        Deno.writeTextFileSync(`${tmp}/name`, state.name);
        Deno.writeTextFileSync(`${tmp}/lock`, "");
        writeState(tmp, state);
        Deno.renameSync(tmp, this.dir(state.id));
      } catch (e) {
        removeTree(tmp);
        this.dropIndexEntry(state.name, state.id);
        throw e instanceof ContainerError ? e : fromDenoError("create container", tmp, e);
      }
    });
  }

  /** Runs `fn` holding the state root's names lock (flock on ROOT/names/.lock). */
  private async withNamesLock<T>(fn: () => T | Promise<T>): Promise<T> {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(`${this.root}/names/.lock`, { create: true, write: true });
    } catch (e) {
      throw fromDenoError("open lock", `${this.root}/names/.lock`, e);
    }
    try {
      await file.lock(true);
      return await fn();
    } finally {
      file.close();
    }
  }

  /** Rebuilds names/ from the containers' own names when it is not known whole. */
  private ensureIndex(): void {
    const marker = `${this.root}/names/.complete`;
    try {
      Deno.lstatSync(marker);
      return;
    } catch { /* missing: rebuild */ }
    this.ensureRoot();
    for (const id of this.ids()) {
      const name = this.storedName(id) || this.read(id)?.name;
      if (name && this.nameOwner(name) !== id) this.writeIndexEntry(name, id);
    }
    try {
      Deno.writeTextFileSync(marker, "");
    } catch (e) {
      throw fromDenoError("write names index", marker, e);
    }
  }

  private indexEntry(name: string): string | undefined {
    try {
      return Deno.readTextFileSync(`${this.root}/names/${name}`).trim();
    } catch {
      return undefined;
    }
  }

  private writeIndexEntry(name: string, id: string): void {
    const path = `${this.root}/names/${name}`;
    // A dot name is never a container name; the tag lets reclaim() judge a leftover.
    const tmp = `${this.root}/names/.${name}.tmp-${ownerTag()}`;
    try {
      Deno.writeTextFileSync(tmp, id);
      Deno.renameSync(tmp, path);
    } catch (e) {
      removeTree(tmp); // the disk refused its content
      throw fromDenoError("claim name", path, e);
    }
  }

  private dropIndexEntry(name: string, id: string): void {
    if (this.indexEntry(name) !== id) return;
    try {
      Deno.removeSync(`${this.root}/names/${name}`);
    } catch { /* already gone */ }
  }

  /**
   * The id that holds `name`, if any: the index's answer, verified against
   * the container's own folder (an entry whose container is gone, or holds
   * another name, holds nothing).
   */
  nameOwner(name: string): string | undefined {
    const id = this.indexEntry(name);
    if (!id || !/^[0-9a-f]{64}$/.test(id)) return undefined;
    try {
      Deno.lstatSync(this.dir(id));
    } catch {
      return undefined;
    }
    const stored = this.storedName(id) || this.read(id)?.name;
    return stored === undefined || stored === "" || stored === name ? id : undefined;
  }

  /**
   * Removes a container's folder and name; idempotent. The folder is first
   * renamed to a tombstone, so the container is gone from every listing at
   * once, even if this process is killed before the removal ends.
   */
  removeFiles(id: string, name: string): void {
    const tomb = this.bury(id);
    this.dropIndexEntry(name, id);
    if (tomb) removeTree(tomb);
  }

  /** Renames container `id`'s folder to a tombstone of this process; its path, or undefined if gone. */
  bury(id: string): string | undefined {
    const tomb = `${this.root}/.rm-${ownerTag()}-${id}`;
    try {
      Deno.renameSync(this.dir(id), tomb);
      return tomb;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw fromDenoError("remove container", this.dir(id), e);
    }
  }

  /**
   * The folders dead commands left: `.new-` ones (a `run -d` killed while
   * creating; removed here, nothing else exists yet) and `.rm-` tombstones
   * (an `rm` killed while removing), returned with the state they held so
   * the caller finishes their removal (processes, cgroups, image root) and
   * then calls {@link removeDead}. Folders of live commands are left alone.
   */
  reclaim(): DeadEntry[] {
    const dead: DeadEntry[] = [];
    try {
      for (const e of Deno.readDirSync(`${this.root}/names`)) {
        const m = /^\..*\.tmp-(\d+-\d+)$/.exec(e.name);
        if (m && !ownerAlive(m[1])) removeTree(`${this.root}/names/${e.name}`);
      }
    } catch { /* no index yet */ }
    for (const name of this.entries()) {
      const m = TEMP.exec(name);
      if (!m || ownerAlive(m[2])) continue;
      const path = `${this.root}/${name}`;
      if (m[1] === "new") {
        removeTree(path);
        continue;
      }
      let state: ContainerState | undefined;
      try {
        state = JSON.parse(Deno.readTextFileSync(`${path}/state.json`));
      } catch { /* unreadable: the caller finds what is left by id */ }
      dead.push({ id: m[3], path, state });
    }
    return dead;
  }

  /**
   * Drops names/ entries that name no container (a create killed between
   * the entry and its folder's rename); under the names lock, so a create
   * in progress is never mistaken for one. Resolves to the names dropped.
   */
  async dropStaleNames(): Promise<string[]> {
    const dropped: string[] = [];
    try {
      Deno.lstatSync(`${this.root}/names`);
    } catch {
      return dropped;
    }
    await this.withNamesLock(() => {
      for (const e of Deno.readDirSync(`${this.root}/names`)) {
        if (e.name.startsWith(".") || this.nameOwner(e.name)) continue;
        const id = this.indexEntry(e.name);
        if (id && this.entries().some((n) => n.endsWith(`-${id}`))) continue; // being made or removed
        try {
          Deno.removeSync(`${this.root}/names/${e.name}`);
          dropped.push(e.name);
        } catch { /* gone meanwhile */ }
      }
    });
    return dropped;
  }

  /** Removes a dead entry's folder once the caller has finished with it. */
  removeDead(entry: DeadEntry): void {
    removeTree(entry.path);
  }

  /**
   * Records, before any of them exists, that this process owns container
   * `id`'s host resources (its cgroup `minicontainer-ID` in every hierarchy,
   * its image root): a journal entry `owners/ID.PID-START`. A foreground
   * `run` holds one while it runs, a supervisor while its container runs.
   * Resolves to the entry, to pass to {@link release} once they are gone.
   * `owner` is another process's tag: a monitor this process started.
   */
  claim(id: string, owner: string = ownerTag()): string {
    const path = `${this.root}/owners/${id}.${owner}`;
    try {
      Deno.writeFileSync(path, new Uint8Array());
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw fromDenoError("claim container", path, e);
      try {
        Deno.mkdirSync(`${this.root}/owners`, { recursive: true, mode: 0o700 });
        Deno.writeFileSync(path, new Uint8Array());
      } catch (e) {
        throw fromDenoError("claim container", path, e);
      }
    }
    return path;
  }

  /** Ends a claim made by {@link claim}. */
  release(claim: string): void {
    try {
      Deno.removeSync(claim);
    } catch { /* already reclaimed */ }
  }

  /**
   * Journal entries whose owner died (a killed `run` or supervisor): the ids
   * whose cgroups and image roots no live process owns, each with the
   * entries to {@link release} once they are reclaimed.
   */
  deadClaims(): Map<string, string[]> {
    const dead = new Map<string, string[]>();
    const live = new Set<string>();
    let names: string[];
    try {
      names = [...Deno.readDirSync(`${this.root}/owners`)].map((e) => e.name);
    } catch {
      return dead;
    }
    for (const name of names) {
      const m = /^([0-9a-f]{64})\.(.*)$/.exec(name);
      if (!m) continue;
      if (ownerAlive(m[2])) live.add(m[1]);
      else dead.set(m[1], [...dead.get(m[1]) ?? [], `${this.root}/owners/${name}`]);
    }
    for (const id of live) dead.delete(id);
    return dead;
  }

  /** Whether a live process holds a claim on container `id`. */
  claimed(id: string): boolean {
    try {
      for (const e of Deno.readDirSync(`${this.root}/owners`)) {
        if (e.name.startsWith(`${id}.`) && ownerAlive(e.name.slice(65))) return true;
      }
    } catch { /* no claims */ }
    return false;
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
    return await this.withLockOrWhy(id, (got) => "state" in got ? fn(got.state) : undefined);
  }

  /** {@link withLock}, handing `fn` the state or why it cannot be read. */
  async withLockOrWhy<T>(
    id: string,
    fn: (got: { state: ContainerState } | UnreadableState) => T | Promise<T>,
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
      const got = this.readOrWhy(id);
      if ("gone" in got) return undefined;
      return await fn(got);
    } finally {
      file.close();
    }
  }

  /**
   * Gives container `id` the name `to` (docker rename). Under the names
   * lock: the new index entry first, then the container's own name file
   * (the truth nameOwner checks entries against) and its state, then the old
   * entry goes. Killed midway, the old entry names a container that no
   * longer holds it (free), the new one a container that holds it or not yet
   * (free again): never two containers for one name.
   */
  async rename(id: string, to: string): Promise<void> {
    this.ensureRoot();
    await this.withNamesLock(async () => {
      this.ensureIndex();
      const owner = this.nameOwner(to) ??
        this.ids().find((other) => (this.storedName(other) || this.read(other)?.name) === to);
      if (owner) {
        throw new ContainerError(
          "rename container",
          to,
          undefined,
          owner === id
            ? "the container has that name already"
            : `the name is already in use by container ${owner.slice(0, 12)}`,
        );
      }
      const renamed = await this.withLock(id, (state) => {
        this.writeIndexEntry(to, id);
        writeFileAtomic(`${this.dir(id)}/name`, to, "rename container", { sync: false });
        writeState(this.dir(id), { ...state, name: to });
        this.dropIndexEntry(state.name, id);
        return true;
      });
      if (!renamed) {
        throw new ContainerError("rename container", id, undefined, "no such container");
      }
    });
  }

  /**
   * Finds a container by name, full id or unique id prefix. Unknown and
   * ambiguous references are errors naming the reference.
   */
  resolve(ref: string): string {
    if (!ref) throw new ContainerError("find container", '""', undefined, "no name or id given");
    const byName = this.nameOwner(ref);
    if (byName) return byName;
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
    // The index may be gone or stale: the containers' own names decide.
    for (const id of this.ids()) {
      if (this.storedName(id) === ref || this.read(id)?.name === ref) return id;
    }
    throw new ContainerError("find container", ref, undefined, "no such container");
  }
}

/** The error for a name container `owner` holds (docker's conflict, exit 125). */
export function nameInUse(name: string, owner: string): ContainerError {
  return new ContainerError(
    "create container",
    name,
    undefined,
    `the name is already in use by container ${owner.slice(0, 12)}; remove it or pick another name`,
  );
}

/** Writes `state` into folder `dir` atomically: readers see the old or the new file, whole. */
function writeState(dir: string, state: ContainerState): void {
  // The state root is a tmpfs (/run) as a rule: no fsync, but a full one
  // fails here with ENOSPC and leaves the previous state whole.
  writeFileAtomic(`${dir}/state.json`, JSON.stringify(state, null, 2), "write state", {
    sync: false,
  });
}

/**
 * The state with the exit its supervisor recorded in place (exit_record.ts)
 * when state.json does not have it yet (a full disk refused the write).
 */
function withExitRecord(state: ContainerState, dir: string): ContainerState {
  if (state.status === "exited" || !state.supervisorPid) return state;
  const exit = readExitRecord(dir);
  return exit ? { ...state, ...exit, status: "exited", pid: undefined } : state;
}

function removeTree(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch { /* already gone */ }
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
