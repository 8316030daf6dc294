/**
 * The child's last privileged steps, as ops: the user switch, the
 * capability sets, no_new_privs and the seccomp filter, in the one order in
 * which each step still holds the privilege it needs.
 *
 * The child starts as root with every capability (in its user namespace, if
 * it has one). The order:
 *
 * 1. Drop the bounding set (prctl PR_CAPBSET_DROP per capability). It needs
 *    CAP_SETPCAP in the effective set, which is only certain now, before
 *    the user switch clears the effective set and before capset lowers it.
 *    For a root command the bounding set is what exec grants, so this is the
 *    step that actually takes capabilities away.
 * 2. Without no_new_privs, load the seccomp filter here: the kernel then
 *    requires CAP_SYS_ADMIN, which the steps below give up. The filter then
 *    also judges steps 3 to 6 (Docker's default allows them; runc has the
 *    same order and the same caveat for custom profiles).
 * 3. For a non-root user, prctl(PR_SET_KEEPCAPS): setresuid away from uid 0
 *    would otherwise empty the permitted set, and capset could not restore
 *    what the spec asks for. exec clears the flag again.
 * 4. setgroups, setresgid, setresuid: they need CAP_SETGID and CAP_SETUID,
 *    which are still effective because capset has not run yet. Groups and
 *    gid go first since after setresuid the process may no longer change
 *    them.
 * 5. capset: effective, permitted and inheritable exactly as the spec says
 *    (after a switch to non-root the effective set is empty and the kept
 *    permitted set is lowered to the spec's).
 * 6. Ambient: clear, then raise each (needs the capability in permitted and
 *    inheritable, so after capset).
 * 7. no_new_privs, then the seccomp filter last, right before execve: with
 *    no_new_privs any process may load a filter, and nothing of the
 *    runtime's own steps has to pass it.
 *
 * After steps 4 to 6 the parent-death signal is set again ({@link parentDeathOps}):
 * the kernel clears it at every change of uid or gid, and a container whose
 * runtime was killed would otherwise run on, unowned.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";
import type { Capabilities, Spec } from "../spec.ts";
import {
  ALL_CAPABILITIES,
  capabilityNumber,
  heldCapabilities,
  lastCapability,
} from "./capabilities.ts";
import { seccompOps } from "./seccomp.ts";

/** prctl(2) options (linux/prctl.h). */
export const PR = {
  SET_KEEPCAPS: 8,
  CAPBSET_DROP: 24,
  SET_NO_NEW_PRIVS: 38,
  CAP_AMBIENT: 47,
  CAP_AMBIENT_RAISE: 2,
  CAP_AMBIENT_CLEAR_ALL: 4,
} as const;

/**
 * What the kernel undoes at a change of uid or gid (commit_creds) and at a
 * fork, done again: the parent-death signal (cleared by both) and
 * non-dumpability (a credential change sets fs.suid_dumpable, which may be
 * 1). Then check_parent: a parent that died before the prctl sends nothing.
 * Runs after a seccomp filter loaded without no_new_privs, like the user
 * switch: a profile must allow prctl and ppoll (docker's does).
 */
export function parentDeathOps(after: string): Op[] {
  return [
    {
      call: "prctl",
      args: [K.PR_SET_PDEATHSIG, K.SIGKILL, 0, 0, 0],
      label: `set the parent-death signal again after ${after}`,
    },
    { call: "prctl", args: [K.PR_SET_DUMPABLE, 0, 0, 0, 0], label: "stay non-dumpable" },
    { call: "check_parent", args: [], label: "check that the parent lives" },
  ];
}

/** _LINUX_CAPABILITY_VERSION_3: 64-bit sets as two 32-bit words each. */
export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** What {@link securityOps} needs besides the spec. */
export interface SecurityOptions {
  /** The highest capability the kernel knows (default: this kernel's). */
  lastCap?: number;
  /**
   * The capabilities the child starts with when it gets no new user
   * namespace, as a bit mask (default: the runtime's own permitted set).
   */
  held?: bigint;
  /** The machine the seccomp filter is compiled for (default: this one). */
  arch?: string;
}

/**
 * Which capabilities the child can hold: those the kernel knows (up to
 * `lastCap`) and, without a new user namespace, those the runtime holds.
 * In a new user namespace the child starts with every capability there.
 */
export interface Available {
  /** The highest capability number the kernel knows. */
  lastCap: number;
  /** Capabilities the child starts with, as a bit mask. */
  held: bigint;
}

/** Capability numbers of a set, without those the child cannot have. */
function capNumbers(names: readonly string[] | undefined, can: Available): number[] {
  return [...new Set((names ?? []).map(capabilityNumber))]
    .filter((n) => n <= can.lastCap && (can.held >> BigInt(n)) & 1n)
    .sort((a, b) => a - b);
}

/** The bytes of capset's two arguments: header {version, pid 0} and data[2]. */
export function capsetArgs(
  caps: Capabilities,
  can: Available,
): { header: Uint8Array; data: Uint8Array } {
  const header = new Uint8Array(8);
  new DataView(header.buffer).setUint32(0, LINUX_CAPABILITY_VERSION_3, true);
  // struct __user_cap_data_struct { u32 effective, permitted, inheritable; }[2]:
  // word 0 holds capabilities 0-31, word 1 holds 32-63.
  const data = new Uint8Array(24);
  const view = new DataView(data.buffer);
  const sets = [caps.effective, caps.permitted, caps.inheritable];
  sets.forEach((set, s) => {
    for (const n of capNumbers(set, can)) {
      const at = (n >> 5) * 12 + s * 4;
      view.setUint32(at, (view.getUint32(at, true) | (1 << (n & 31))) >>> 0, true);
    }
  });
  return { header, data };
}

// ALL_CAPABILITIES is in bit order.
const nameOf = (n: number) => ALL_CAPABILITIES[n] ?? `cap ${n}`;

function boundingOps(caps: Capabilities, can: Available): Op[] {
  const keep = new Set(capNumbers(caps.bounding, can));
  const ops: Op[] = [];
  for (let n = 0; n <= can.lastCap; n++) {
    if (keep.has(n)) continue;
    ops.push({
      call: "prctl",
      args: [PR.CAPBSET_DROP, n, 0, 0, 0],
      label: `drop ${nameOf(n)} from the bounding set`,
    });
  }
  return ops;
}

function userOps(spec: Spec, keepCaps: boolean): Op[] {
  const { uid, gid, additionalGids = [] } = spec.process.user;
  const ops: Op[] = [];
  if (keepCaps && uid !== 0) {
    ops.push({
      call: "prctl",
      args: [PR.SET_KEEPCAPS, 1, 0, 0, 0],
      label: "keep capabilities across the user switch",
    });
  }
  const gids = [...new Set(additionalGids)];
  if (gids.length > 0) {
    const list = new Uint8Array(gids.length * 4);
    const view = new DataView(list.buffer);
    gids.forEach((g, i) => view.setUint32(i * 4, g >>> 0, true));
    ops.push({
      call: "setgroups",
      args: [gids.length, list],
      label: `setgroups ${gids.join(",")}`,
    });
  } else {
    ops.push({
      call: "setgroups",
      args: [0, null],
      label: "clear supplementary groups",
      // A user namespace whose setgroups file says "deny" (rootless, one id
      // mapped) refuses even an empty list; there the runtime's groups were
      // not mapped in, so there is nothing to clear.
      tolerate: ["EPERM"],
    });
  }
  ops.push(
    { call: "setresgid", args: [gid, gid, gid], label: `setresgid ${gid}` },
    { call: "setresuid", args: [uid, uid, uid], label: `setresuid ${uid}` },
  );
  return ops;
}

function capabilityOps(caps: Capabilities, can: Available): Op[] {
  const { header, data } = capsetArgs(caps, can);
  const ops: Op[] = [
    { call: "capset", args: [header, data], label: "capset" },
    {
      call: "prctl",
      args: [PR.CAP_AMBIENT, PR.CAP_AMBIENT_CLEAR_ALL, 0, 0, 0],
      label: "clear the ambient capabilities",
    },
  ];
  for (const n of capNumbers(caps.ambient, can)) {
    ops.push({
      call: "prctl",
      args: [PR.CAP_AMBIENT, PR.CAP_AMBIENT_RAISE, n, 0, 0],
      label: `raise ambient capability ${nameOf(n)}`,
    });
  }
  return ops;
}

/**
 * The security ops for spec.process and spec.linux.seccomp, to run after
 * pivot_root and chdir and right before the execve ops. Without
 * spec.process.capabilities the capability sets are left as they are (a
 * root command keeps every capability); a set missing from a present
 * capabilities object is empty, as the OCI spec says. Without
 * spec.linux.seccomp no filter is loaded. Capabilities the child cannot
 * have (unknown to the kernel, or withheld from the runtime itself) are
 * left out of every set rather than failing capset.
 */
export function securityOps(spec: Spec, opts: SecurityOptions = {}): Op[] {
  const userns = spec.linux.namespaces.some((ns) => ns.type === "user");
  const can: Available = {
    lastCap: opts.lastCap ?? lastCapability(),
    held: userns ? (1n << 64n) - 1n : opts.held ?? heldCapabilities(),
  };
  const caps = spec.process.capabilities;
  const noNewPrivs = spec.process.noNewPrivileges ?? false;
  const filter = seccompOps(spec.linux.seccomp, opts.arch);
  return [
    ...(caps ? boundingOps(caps, can) : []),
    ...(noNewPrivs ? [] : filter),
    ...userOps(spec, caps !== undefined),
    ...(caps ? capabilityOps(caps, can) : []),
    ...parentDeathOps(`the switch to user ${spec.process.user.uid}`),
    ...(noNewPrivs
      ? [
        {
          call: "prctl",
          args: [PR.SET_NO_NEW_PRIVS, 1, 0, 0, 0],
          label: "set no_new_privs",
        } satisfies Op,
        ...filter,
      ]
      : []),
  ];
}
