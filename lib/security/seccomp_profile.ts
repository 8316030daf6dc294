/**
 * Seccomp profiles in the Docker/OCI JSON format: reading one from a file,
 * checking every field, and evaluating Docker's `includes`/`excludes`
 * (capabilities, architectures, minimum kernel) so that Docker's own
 * default.json means here what it means to `docker run`.
 * @module
 */

import { ContainerError } from "../errors.ts";
import type { Seccomp, SeccompSyscall } from "../spec.ts";
import { DEFAULT_CAPABILITIES } from "./capabilities.ts";

/** The actions a rule or the default may take (SCMP_ACT_NOTIFY needs an agent: not supported). */
export const SECCOMP_ACTIONS: readonly string[] = [
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_LOG",
];

/** The argument comparisons. */
export const SECCOMP_COMPARISONS: readonly string[] = [
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
];

/** seccomp(2) filter flags a profile may ask for, by name. */
export const SECCOMP_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};

/** The largest errno a filter may return (the kernel's MAX_ERRNO). */
export const MAX_ERRNO = 4095;

/** Docker's names for architectures in `includes.arches`, per machine. */
const DOCKER_ARCHES: Record<string, readonly string[]> = {
  x86_64: ["amd64", "x86_64"],
  aarch64: ["arm64", "aarch64"],
};

/** What Docker's `includes`/`excludes` are evaluated against. */
export interface ProfileContext {
  /** The container's bounding capabilities (default: docker's fourteen). */
  capabilities?: readonly string[];
  /** The machine (default: this one). */
  arch?: string;
  /** The kernel release, e.g. "6.1.0" (default: this one). */
  kernel?: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

function isUint(v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Compares dotted kernel versions: is `release` at least `min`? */
function kernelAtLeast(release: string, min: string): boolean {
  const nums = (s: string) => s.split(/[.-]/).slice(0, 3).map((p) => Number.parseInt(p, 10) || 0);
  const [a, b] = [nums(release), nums(min)];
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/**
 * Checks a profile (from JSON or from a config.json's linux.seccomp) and
 * returns it in the spec's shape. `where` names it in errors: a file path.
 */
export function checkSeccompProfile(
  raw: unknown,
  where: string,
  context: ProfileContext = {},
): Seccomp {
  const fail = (detail: string): never => {
    throw new ContainerError("seccomp profile", where, undefined, detail);
  };
  if (!isObject(raw)) return fail("the profile is not a JSON object");
  const action = (v: unknown, field: string): string => {
    if (typeof v !== "string") return fail(`${field} is missing or not a string`);
    if (v === "SCMP_ACT_NOTIFY") return fail(`${field}: SCMP_ACT_NOTIFY is not supported`);
    if (!SECCOMP_ACTIONS.includes(v)) return fail(`${field}: unknown action ${JSON.stringify(v)}`);
    return v;
  };
  const errno = (v: unknown, field: string): number | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isUint(v, MAX_ERRNO)) {
      return fail(`${field} must be an errno number from 0 to ${MAX_ERRNO}`);
    }
    return v;
  };

  const profile: Seccomp = { defaultAction: action(raw.defaultAction, "defaultAction") };
  const defaultErrno = errno(raw.defaultErrnoRet, "defaultErrnoRet");
  if (defaultErrno !== undefined) profile.defaultErrnoRet = defaultErrno;

  const arches = new Set<string>();
  if (raw.architectures !== undefined && raw.architectures !== null) {
    if (!isStringArray(raw.architectures)) fail("architectures must be a list of strings");
    for (const a of raw.architectures as string[]) arches.add(a);
  }
  if (raw.archMap !== undefined && raw.archMap !== null) {
    if (!Array.isArray(raw.archMap)) fail("archMap must be a list");
    (raw.archMap as unknown[]).forEach((entry, i) => {
      if (!isObject(entry) || typeof entry.architecture !== "string") {
        fail(`archMap[${i}] needs an "architecture" string`);
      }
      const e = entry as Record<string, unknown>;
      arches.add(e.architecture as string);
      const subs = e.subArchitectures ?? [];
      if (!isStringArray(subs)) fail(`archMap[${i}].subArchitectures must be a list of strings`);
      for (const s of subs as string[]) arches.add(s);
    });
  }
  for (const a of arches) {
    if (!/^SCMP_ARCH_[A-Z0-9_]+$/.test(a)) fail(`unknown architecture ${JSON.stringify(a)}`);
  }
  if (arches.size > 0) profile.architectures = [...arches];

  if (raw.flags !== undefined && raw.flags !== null) {
    if (!isStringArray(raw.flags)) fail("flags must be a list of strings");
    for (const f of raw.flags as string[]) {
      if (!(f in SECCOMP_FLAGS)) fail(`unsupported flag ${JSON.stringify(f)}`);
    }
    profile.flags = [...raw.flags as string[]];
  }

  const caps = context.capabilities ?? DEFAULT_CAPABILITIES;
  const machine = context.arch ?? Deno.build.arch;
  const kernel = context.kernel ?? Deno.osRelease();
  const dockerArches = DOCKER_ARCHES[machine] ?? [machine];
  /** Docker's filter: does a rule with these includes/excludes apply here? */
  const applies = (rule: Record<string, unknown>, field: string): boolean => {
    for (const key of ["includes", "excludes"] as const) {
      const f = rule[key];
      if (f === undefined || f === null) continue;
      if (!isObject(f)) fail(`${field}.${key} must be an object`);
      const filter = f as Record<string, unknown>;
      for (const list of ["caps", "arches"]) {
        if (filter[list] !== undefined && filter[list] !== null && !isStringArray(filter[list])) {
          fail(`${field}.${key}.${list} must be a list of strings`);
        }
      }
      if (filter.minKernel !== undefined && typeof filter.minKernel !== "string") {
        fail(`${field}.${key}.minKernel must be a string`);
      }
      const fcaps = (filter.caps ?? []) as string[];
      const farches = (filter.arches ?? []) as string[];
      if (key === "includes") {
        if (!fcaps.every((c) => caps.includes(c))) return false;
        if (farches.length > 0 && !farches.some((a) => dockerArches.includes(a))) return false;
        if (filter.minKernel && !kernelAtLeast(kernel, filter.minKernel as string)) return false;
      } else {
        if (fcaps.some((c) => caps.includes(c))) return false;
        if (farches.some((a) => dockerArches.includes(a))) return false;
        if (filter.minKernel && kernelAtLeast(kernel, filter.minKernel as string)) return false;
      }
    }
    return true;
  };

  if (raw.syscalls !== undefined && raw.syscalls !== null) {
    if (!Array.isArray(raw.syscalls)) fail("syscalls must be a list");
    const rules: SeccompSyscall[] = [];
    (raw.syscalls as unknown[]).forEach((r, i) => {
      const field = `syscalls[${i}]`;
      if (!isObject(r)) return fail(`${field} is not an object`);
      let names: string[];
      if (r.names !== undefined && r.names !== null) {
        if (!isStringArray(r.names)) return fail(`${field}.names must be a list of strings`);
        names = [...r.names];
      } else if (typeof r.name === "string") names = [r.name];
      else return fail(`${field} has neither "names" nor "name"`);
      if (names.length === 0 || names.some((n) => !/^[a-z_][a-z0-9_]*$/.test(n))) {
        return fail(`${field}.names must hold system call names`);
      }
      const rule: SeccompSyscall = { names, action: action(r.action, `${field}.action`) };
      const ret = errno(r.errnoRet, `${field}.errnoRet`);
      if (ret !== undefined) rule.errnoRet = ret;
      if (r.args !== undefined && r.args !== null) {
        if (!Array.isArray(r.args)) return fail(`${field}.args must be a list`);
        rule.args = (r.args as unknown[]).map((a, k) => {
          const af = `${field}.args[${k}]`;
          if (!isObject(a)) return fail(`${af} is not an object`);
          if (!isUint(a.index, 5)) return fail(`${af}.index must be 0 to 5`);
          if (!isUint(a.value)) return fail(`${af}.value must be an unsigned integer`);
          if (a.valueTwo !== undefined && a.valueTwo !== null && !isUint(a.valueTwo)) {
            return fail(`${af}.valueTwo must be an unsigned integer`);
          }
          if (typeof a.op !== "string" || !SECCOMP_COMPARISONS.includes(a.op)) {
            return fail(`${af}.op: unknown comparison ${JSON.stringify(a.op)}`);
          }
          const cond: { index: number; value: number; valueTwo?: number; op: string } = {
            index: a.index,
            value: a.value,
            op: a.op,
          };
          if (typeof a.valueTwo === "number") cond.valueTwo = a.valueTwo;
          return cond;
        });
      }
      if (applies(r, field)) rules.push(rule);
    });
    profile.syscalls = rules;
  }
  return profile;
}

/**
 * Parses a seccomp profile in the Docker/OCI format (defaultAction,
 * defaultErrnoRet, architectures or archMap, flags, syscalls[] with names or
 * name, action, errnoRet, args, and Docker's includes/excludes). A malformed
 * profile throws a ContainerError naming `path` and the problem (exit 125).
 */
export function parseSeccompProfile(
  json: string,
  path: string,
  context: ProfileContext = {},
): Seccomp {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new ContainerError(
      "seccomp profile",
      path,
      undefined,
      `not valid JSON (${(e as Error).message})`,
    );
  }
  const nul = nulAt(raw, "");
  if (nul !== undefined) {
    throw new ContainerError("seccomp profile", path, undefined, `${nul || "it"} holds a NUL byte`);
  }
  return checkSeccompProfile(raw, path, context);
}

/** Where in a parsed JSON document a string (or key) holds a NUL byte, if anywhere. */
function nulAt(v: unknown, at: string): string | undefined {
  if (typeof v === "string") return v.includes("\0") ? at : undefined;
  if (v === null || typeof v !== "object") return undefined;
  for (const [k, item] of Object.entries(v)) {
    const here = Array.isArray(v) ? `${at}[${k}]` : at ? `${at}.${k}` : k;
    if (k.includes("\0")) return here;
    const found = nulAt(item, here);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Reads and parses the profile file at `path` (--security-opt seccomp=PATH). */
export function readSeccompProfile(path: string, context: ProfileContext = {}): Seccomp {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ContainerError(
      "seccomp profile",
      path,
      undefined,
      code === "ENOENT" ? "no such file" : `cannot read it (${(e as Error).message})`,
    );
  }
  return parseSeccompProfile(text, path, context);
}
