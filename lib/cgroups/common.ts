/**
 * What the v1 and v2 drivers share: checking the spec's resources before
 * anything is created, naming the container's cgroup, and writing a list of
 * limit files with a warning for each one the host lacks.
 * @module
 */

import { ContainerError } from "../errors.ts";
import type { Resources } from "../spec.ts";
import { ERRNO, readOptional, writeFile } from "./fs.ts";
import type { LimitWrite } from "./types.ts";

/** The container's cgroup directory name. */
export function cgroupName(containerId: string): string {
  if (containerId === "" || /[/\0\n]/.test(containerId)) {
    throw new ContainerError(
      "create cgroup",
      undefined,
      undefined,
      `container id "${containerId}" cannot name a cgroup directory`,
    );
  }
  return `minicontainer-${containerId}`;
}

/** The components of a cgroup path; "." and ".." are refused so it stays inside the hierarchy. */
export function pathSegments(path: string): string[] {
  const segments = path.split("/").filter((s) => s !== "");
  if (segments.some((s) => s === "." || s === "..")) {
    throw new ContainerError(
      "cgroup parent",
      path,
      undefined,
      'must not contain "." or ".." components',
    );
  }
  return segments;
}

/**
 * The parent cgroup's components within one hierarchy: `parent` when it is
 * absolute, else `parent` below `own` (the runtime's cgroup there).
 */
export function parentSegments(own: string, parent: string | undefined): string[] {
  if (parent !== undefined && parent.startsWith("/")) return pathSegments(parent);
  return [...pathSegments(own), ...pathSegments(parent ?? "")];
}

function bad(detail: string): ContainerError {
  return new ContainerError("cgroup resources", undefined, undefined, detail);
}

function checkInteger(name: string, value: number | undefined, min: number): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < min) {
    throw bad(`${name} ${value} is not an integer of at least ${min}`);
  }
}

/**
 * Refuses resources no kernel would take, before anything is created (docker
 * checks the same on its side). -1 means unlimited where the spec allows it.
 */
export function validateResources(r: Resources): void {
  const m = r.memory ?? {};
  checkInteger("memory limit", m.limit, -1);
  checkInteger("memory reservation", m.reservation, -1);
  checkInteger("memory swap limit", m.swap, -1);
  if (m.swap !== undefined && m.swap > 0) {
    if (m.limit === undefined || m.limit <= 0) {
      throw bad(`memory+swap limit ${m.swap} needs a memory limit`);
    }
    if (m.swap < m.limit) {
      throw bad(`memory+swap limit ${m.swap} is below the memory limit ${m.limit}`);
    }
  }
  checkInteger("kernel memory limit", m.kernel, -1);
  checkInteger("kernel TCP buffer limit", m.kernelTCP, -1);
  checkInteger("memory swappiness", m.swappiness, 0);
  if (m.swappiness !== undefined && m.swappiness > 100) {
    throw bad(`memory swappiness ${m.swappiness} is above 100`);
  }
  const c = r.cpu ?? {};
  checkInteger("cpu shares", c.shares, 0);
  checkInteger("cpu quota", c.quota, -1);
  checkInteger("cpu period", c.period, 0);
  if (r.pids) checkInteger("pids limit", r.pids.limit, -1);
  checkInteger("block I/O weight", r.blockIO?.weight, 0);
  for (const d of r.blockIO?.weightDevice ?? []) {
    checkInteger("block I/O device weight", d.weight, 0);
    checkInteger("block I/O device leaf weight", d.leafWeight, 0);
  }
  for (const [field] of THROTTLES) {
    for (const d of r.blockIO?.[field] ?? []) checkInteger(`block I/O ${field}`, d.rate, 0);
  }
  for (const h of r.hugepageLimits ?? []) {
    if (!/^[0-9]+[KMG]B$/.test(h.pageSize)) {
      throw bad(`huge page size "${h.pageSize}" is not a size such as 2MB`);
    }
    checkInteger(`huge page limit for ${h.pageSize}`, h.limit, 0);
  }
  checkInteger("network class id", r.network?.classID, 0);
  for (const p of r.network?.priorities ?? []) {
    if (!/^[^\s/]+$/.test(p.name)) {
      throw bad(`network priority: "${p.name}" is not an interface name`);
    }
    checkInteger(`network priority of ${p.name}`, p.priority, 0);
  }
  for (const key of Object.keys(r.unified ?? {})) {
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/i.test(key)) {
      throw bad(`unified key "${key}" is not a cgroup interface file name`);
    }
  }
}

/** Whether a limit read back is the one written (byte limits round down to a 4 KiB page). */
function sameLimit(kept: string, value: string): boolean {
  const page = 4096;
  return kept === value || Number(kept) === Math.floor(Number(value) / page) * page;
}

/**
 * Writes each limit into the directory `dirFor` gives for its controller.
 * A controller the host lacks (`dirFor` answers undefined) or a file that
 * does not exist becomes a warning; a value the kernel refuses throws.
 */
export function applyWrites(
  writes: readonly LimitWrite[],
  dirFor: (controller: string | undefined) => string | undefined,
  warn: (message: string) => void,
): void {
  for (const w of writes) {
    if (w.files.length === 0) {
      warn(`${w.what} not applied: ${w.missingHint}`);
      continue;
    }
    const dir = dirFor(w.controller);
    if (dir === undefined) {
      warn(
        `${w.what} not applied: the ${w.controller} cgroup controller is not available on this host`,
      );
      continue;
    }
    let written = false;
    for (const [file, value] of w.files) {
      try {
        writeFile(`${dir}/${file}`, value);
        written = true;
        const kept = w.readBack ? readOptional(`${dir}/${file}`)?.trim() : undefined;
        if (kept !== undefined && !sameLimit(kept, value)) {
          warn(
            `${w.what} not applied: ${dir}/${file} still reads ${
              kept || "(empty)"
            } (${w.missingHint})`,
          );
        }
        break;
      } catch (e) {
        if ((e as ContainerError).errno !== ERRNO.ENOENT) throw e;
      }
    }
    if (!written) {
      const names = w.files.map(([f]) => f).join(" or ");
      warn(
        `${w.what} not applied: ${dir} has no ${names}${
          w.missingHint ? ` (${w.missingHint})` : ""
        }`,
      );
    }
  }
}

/** The spec's throttle fields, v1's file for each (v2's io.max key in v2.ts). */
export const THROTTLES = [
  ["throttleReadBpsDevice", "read_bps_device", "read bytes/s"],
  ["throttleWriteBpsDevice", "write_bps_device", "write bytes/s"],
  ["throttleReadIOPSDevice", "read_iops_device", "read IO/s"],
  ["throttleWriteIOPSDevice", "write_iops_device", "write IO/s"],
] as const;

/** hugetlb.SIZE.FILE for each hugepageLimits entry (v1: limit_in_bytes, v2: max). */
export function hugetlbWrites(r: Resources, file: string): LimitWrite[] {
  return (r.hugepageLimits ?? []).map((h) => ({
    controller: "hugetlb",
    files: [[`hugetlb.${h.pageSize}.${file}`, String(h.limit)]],
    what: `huge page limit ${h.limit} for ${h.pageSize} pages`,
    missingHint: `this host has no ${h.pageSize} huge pages`,
  }));
}
