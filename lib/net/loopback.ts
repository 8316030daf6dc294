/**
 * Bringing up "lo" in a new network namespace, as plan ops: a socket, one
 * SIOCSIFFLAGS ioctl, close. No netlink needed for one flag on one link.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";

/** struct ifreq for "lo" with IFF_UP|IFF_RUNNING (name[16], then short flags). */
function loopbackIfreq(): Uint8Array {
  const ifreq = new Uint8Array(40);
  ifreq.set(new TextEncoder().encode("lo"));
  new DataView(ifreq.buffer).setInt16(16, K.IFF_UP | K.IFF_RUNNING, true);
  return ifreq;
}

/** Ops that bring the loopback link up. */
export function loopbackUpOps(): Op[] {
  return [
    {
      call: "socket",
      args: [K.AF_INET, K.SOCK_DGRAM | K.SOCK_CLOEXEC, 0],
      label: "open socket for lo",
    },
    { call: "ioctl", args: [{ back: 1 }, K.SIOCSIFFLAGS, loopbackIfreq()], label: "set lo up" },
    { call: "close", args: [{ back: 2 }], label: "close lo socket" },
  ];
}
