/**
 * The container's terminal, as plan ops: a pty from the container's own
 * devpts instance (so `tty` names /dev/pts/0 inside), its master sent to the
 * runtime over a unix socket, its slave made the controlling terminal and
 * the standard input, output and error of the command.
 * @module
 */

import type { Op } from "../../ffi/plan.ts";
import { K } from "../../ffi/syscalls.ts";

/** A window size in character cells. */
export interface WindowSize {
  rows: number;
  cols: number;
}

/** `size` as a struct winsize (rows, columns, no pixels): what TIOCSWINSZ takes. */
export function winsize(size: WindowSize): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, size.rows, true);
  view.setUint16(2, size.cols, true);
  return bytes;
}

/**
 * Ops run after pivot_root and setsid: open /dev/ptmx, unlock it, open the
 * slave through TIOCGPTPEER (no path lookup), size it, send the master on
 * `socketFd`, then make the slave the controlling terminal and stdio.
 */
export function ptyOps(socketFd: number, size: WindowSize): Op[] {
  return [
    {
      call: "openat",
      args: [K.AT_FDCWD, "/dev/ptmx", K.O_RDWR | K.O_NOCTTY | K.O_CLOEXEC, 0],
      label: "open /dev/ptmx",
    },
    {
      call: "ioctl",
      args: [{ back: 1 }, K.TIOCSPTLCK, new Uint8Array(4)],
      label: "unlock the pty",
    },
    {
      call: "ioctl",
      args: [{ back: 2 }, K.TIOCGPTPEER, K.O_RDWR | K.O_NOCTTY],
      label: "open the pty slave",
    },
    {
      call: "ioctl",
      args: [{ back: 1 }, K.TIOCSWINSZ, winsize(size)],
      label: "set the window size",
    },
    { call: "send_fd", args: [socketFd, { back: 4 }], label: "send the pty master to the runtime" },
    { call: "close", args: [{ back: 5 }], label: "close the pty master" },
    { call: "close", args: [socketFd], label: "close the terminal socket" },
    {
      call: "ioctl",
      args: [{ back: 5 }, K.TIOCSCTTY, 0],
      label: "make the pty the controlling terminal",
    },
    { call: "dup3", args: [{ back: 6 }, 0, 0], label: "pty to stdin" },
    { call: "dup3", args: [{ back: 7 }, 1, 0], label: "pty to stdout" },
    { call: "dup3", args: [{ back: 8 }, 2, 0], label: "pty to stderr" },
    { call: "close", args: [{ back: 9 }], label: "close the pty slave" },
  ];
}
