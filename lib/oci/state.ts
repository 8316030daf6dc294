/**
 * OCI containers on disk, runc-style: `<root>/oci/<id>/state.json` and
 * `<root>/oci/<id>/exec.fifo`. Kept apart from lib/state/store.ts's
 * folders because an OCI id is the caller's (podman's are 64 hex digits,
 * which the store would take for its own), its lifecycle is the caller's
 * (create, start, delete), and nothing of the store's (names, logs, the
 * supervisor) applies. The state JSON printed by `state` is the spec's.
 * @module
 */

import { writeFileAtomic } from "../atomic_file.ts";
import { ContainerError, fromDenoError } from "../errors.ts";
import type { Spec } from "../spec.ts";
import { isSameProcess, processStartTime } from "../state/liveness.ts";

/** The runtime-spec's statuses, and runc's "paused". */
export type OciStatus = "creating" | "created" | "running" | "paused" | "stopped";

/** What is stored for an OCI container. */
export interface OciRecord {
  id: string;
  /** The container's init as the host sees it (0 while creating). */
  pid: number;
  /** Its start time, so a reused pid is not taken for it. */
  pidStart?: number;
  bundle: string;
  rootfs: string;
  created: string;
  cgroupPaths: string[];
  annotations?: Record<string, string>;
  /** The spec it was created from (hooks for start and delete, update). */
  spec: Spec;
}

/** The state JSON of the runtime spec (runtime.md "State"), with runc's extra fields. */
export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: OciStatus;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

/** Container ids runc accepts: no path separators, no dots only. */
const ID = /^[\w+.-]+$/;

/** Checks a container id as runc does. */
export function checkId(id: string | undefined): string {
  if (!id) throw new ContainerError("usage", undefined, undefined, "container id cannot be empty");
  if (!ID.test(id) || id === "." || id === "..") {
    throw new ContainerError("usage", undefined, undefined, `invalid id format: ${id}`);
  }
  return id;
}

/** The OCI containers of one state root. */
export class OciStore {
  readonly dir: string;
  constructor(root: string) {
    this.dir = `${root}/oci`;
  }

  path(id: string): string {
    return `${this.dir}/${id}`;
  }

  fifo(id: string): string {
    return `${this.path(id)}/exec.fifo`;
  }

  /** Makes the container's folder; an id in use is an error. */
  reserve(id: string): void {
    try {
      Deno.mkdirSync(this.dir, { recursive: true, mode: 0o711 });
      Deno.mkdirSync(this.path(id), { mode: 0o711 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new ContainerError("create", id, undefined, `container with id exists: ${id}`);
      }
      throw fromDenoError("create container state", this.path(id), e);
    }
  }

  write(rec: OciRecord): void {
    writeFileAtomic(`${this.path(rec.id)}/state.json`, JSON.stringify(rec), "write state", {
      sync: false,
    });
  }

  /** The record; a missing one is runc's "container does not exist". */
  read(id: string): OciRecord {
    checkId(id);
    try {
      return JSON.parse(Deno.readTextFileSync(`${this.path(id)}/state.json`)) as OciRecord;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new ContainerError("container", id, undefined, "container does not exist");
      }
      if (e instanceof SyntaxError) {
        throw new ContainerError("read state", `${this.path(id)}/state.json`, undefined, e.message);
      }
      throw fromDenoError("read state", `${this.path(id)}/state.json`, e);
    }
  }

  /** Whether `id` names a container here. */
  has(id: string): boolean {
    try {
      return Deno.statSync(`${this.path(id)}/state.json`).isFile;
    } catch {
      return false;
    }
  }

  ids(): string[] {
    try {
      return [...Deno.readDirSync(this.dir)].filter((e) => e.isDirectory).map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }

  remove(id: string): void {
    try {
      Deno.removeSync(this.path(id), { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw fromDenoError("remove state", this.path(id), e);
      }
    }
  }

  /** The container's status now, as runc judges it. */
  status(rec: OciRecord): OciStatus {
    if (!rec.pid) return "creating";
    if (!isSameProcess(rec.pid, rec.pidStart)) return "stopped";
    if (frozen(rec.cgroupPaths)) return "paused";
    try {
      Deno.lstatSync(this.fifo(rec.id));
      return "created";
    } catch {
      return "running";
    }
  }

  /** The spec's state JSON of `rec`. */
  state(rec: OciRecord): OciState {
    const status = this.status(rec);
    return {
      ociVersion: rec.spec.ociVersion,
      id: rec.id,
      pid: status === "stopped" ? 0 : rec.pid,
      status,
      bundle: rec.bundle,
      rootfs: rec.rootfs,
      created: rec.created,
      owner: "",
      ...(rec.annotations && Object.keys(rec.annotations).length
        ? { annotations: rec.annotations }
        : {}),
    };
  }
}

/** The start time to store with a pid. */
export function startTimeOf(pid: number): number | undefined {
  return processStartTime(pid);
}

/** The freezer file of a container's cgroup: v1 freezer.state or v2 cgroup.freeze. */
export function freezerFile(paths: readonly string[]): string | undefined {
  for (const p of paths) {
    for (const f of [`${p}/freezer.state`, `${p}/cgroup.freeze`]) {
      try {
        Deno.statSync(f);
        return f;
      } catch { /* not this one */ }
    }
  }
  return undefined;
}

function frozen(paths: readonly string[]): boolean {
  const f = freezerFile(paths);
  if (!f) return false;
  try {
    const v = Deno.readTextFileSync(f).trim();
    return v === "FROZEN" || v === "1";
  } catch {
    return false;
  }
}
