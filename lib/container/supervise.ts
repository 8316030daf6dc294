/**
 * The supervisor of a detached container (`minicontainer __supervise ID`,
 * started by `run -d`): runs the stored spec with stdout and stderr going to
 * the log, records the start and the exit in the state, cleans up, and tells
 * the launcher on fd 3 whether the command started.
 * @module
 */

import { pipe, readSome, writeAllTo } from "../../ffi/io.ts";
import { trampoline } from "../../ffi/trampoline.ts";
import { setCloexec } from "../../ffi/libc.ts";
import { ContainerError } from "../errors.ts";
import { processStartTime } from "../state/liveness.ts";
import { holdContainerDir, removeContainerDir } from "../rootfs/default.ts";
import { reserveExitRecord, writeExitRecord } from "../state/exit_record.ts";
import { LogWriter } from "../state/logs.ts";
import type { ContainerState, StateStore } from "../state/store.ts";
import { removeNetDir } from "../net/etc_files.ts";
import { runContainer } from "./run.ts";

const REPORT_FD = 3;

function report(text: string): void {
  try {
    writeAllTo(REPORT_FD, new TextEncoder().encode(text));
  } catch { /* the launcher is gone */ }
  trampoline().close(REPORT_FD);
}

async function pump(fd: number, stream: "stdout" | "stderr", log: LogWriter): Promise<void> {
  const buf = new Uint8Array(16384);
  const decoder = new TextDecoder();
  for (;;) {
    const n = await readSome(fd, buf);
    if (n === 0) break;
    log.write(stream, decoder.decode(buf.subarray(0, n), { stream: true }));
  }
  trampoline().close(fd);
}

/** Runs container `id` to its end; resolves to its exit status. */
export async function supervise(store: StateStore, id: string): Promise<number> {
  // Helpers it starts (CNI plugins, pasta, which stays in the background) must not hold
  // the launcher's report pipe open: the launcher waits for its end.
  setCloexec(REPORT_FD);
  const state = store.read(id);
  if (!state) {
    report("error 125 no such container\n");
    return 125;
  }
  // This process owns the container's cgroup while it runs: a supervisor
  // killed before its cleanup leaves a journal entry the next command reclaims by.
  let claim: string;
  try {
    claim = store.claim(id);
  } catch (e) {
    const err = e instanceof ContainerError
      ? e
      : new ContainerError("run", undefined, undefined, String(e));
    report(`error ${err.exitCode} ${err.message}\n`);
    return err.exitCode;
  }
  try {
    return await superviseClaimed(store, state);
  } finally {
    store.release(claim);
  }
}

async function superviseClaimed(store: StateStore, state: ContainerState): Promise<number> {
  const id = state.id;
  // Held until this process ends: the container's directory is in use.
  const held = (state.removeOnDelete ?? []).map(holdContainerDir);
  try {
    reserveExitRecord(store.dir(id));
  } catch (e) {
    store.removeFiles(id, state.name);
    report(`error 125 ${(e as ContainerError).message}\n`);
    return 125;
  }
  const log = new LogWriter(state.logPath ?? `${store.dir(id)}/container.log`);
  const [outR, outW] = pipe();
  const [errR, errW] = pipe();
  const t = trampoline();
  const pumps = [pump(outR, "stdout", log), pump(errR, "stderr", log)];
  let code: number;
  let oomKilled = false;
  try {
    code = await runContainer(state.spec, {
      id,
      onOom: () => (oomKilled = true),
      // Recorded so that rm can remove them if this supervisor dies.
      onCgroup: (paths) => store.write({ ...state, cgroupPaths: [...paths] }),
      init: state.init,
      overlay: state.overlay,
      net: state.net,
      stdio: [0, outW, errW],
      hooks: {
        beforeRelease() {
          // The child holds its own copies; ours must go for EOF to come.
          t.close(outW);
          t.close(errW);
        },
        started(pid) {
          store.write({
            ...(store.read(id) ?? state),
            status: "running",
            pid,
            pidStart: processStartTime(pid),
            supervisorPid: Deno.pid,
            started: new Date().toISOString(),
          });
          report(`ok ${pid}\n`);
        },
      },
    });
  } catch (e) {
    const err = e instanceof ContainerError
      ? e
      : new ContainerError("run", undefined, undefined, String(e));
    t.close(outW);
    t.close(errW);
    await Promise.all(pumps);
    log.close();
    if (state.net) removeNetDir(state.net.setup.dir);
    store.removeFiles(id, state.name);
    report(`error ${err.exitCode} ${err.message}\n`);
    return err.exitCode;
  }
  const finished = new Date().toISOString();
  // First, in place: the log may have filled the disk state.json is on.
  try {
    writeExitRecord(store.dir(id), { exitCode: code, oomKilled, finished });
  } catch { /* the folder is gone: rm -f removed the container */ }
  await Promise.all(pumps);
  log.close();
  const current = store.read(id);
  if (state.autoRemove) {
    for (const path of state.removeOnDelete ?? []) removeContainerDir(path);
    store.removeFiles(id, state.name);
  } else if (current) {
    try {
      store.write({
        ...current,
        status: "exited",
        exitCode: code,
        oomKilled,
        finished,
        pid: undefined,
      });
    } catch { /* a full disk: the exit record above keeps the status */ }
  }
  for (const f of held) f?.close();
  return code;
}
