/**
 * `run -d`: register the container, start its supervisor, and return once
 * the command runs (or fail with the supervisor's sentence, leaving nothing).
 * @module
 */

import { ContainerError } from "../errors.ts";
import type { RootOverlay } from "../mounts/plan.ts";
import type { Spec } from "../spec.ts";
import type { NetSetup } from "../net/etc_files.ts";
import { checkName, generatedName, newId, StateStore } from "../state/store.ts";
import { selfCommand, startDaemon } from "./detach.ts";
import { reclaimDead } from "./reclaim.ts";

/** How to run detached. */
export interface DetachedRun {
  /** The container's id (default: a new one). */
  id?: string;
  stateRoot: string;
  /** An image's overlayfs root. */
  overlay?: RootOverlay;
  /** What rm removes besides the state (an image root). */
  removeOnDelete?: string[];
  /** The image's StopSignal. */
  stopSignal?: string;
  name?: string;
  autoRemove: boolean;
  init: boolean;
  command: string[];
  /** Its networking, attached by the supervisor. */
  net?: { setup: NetSetup; attach: boolean };
}

/** Starts `spec` in the background; resolves to the container's id. */
export async function runDetached(spec: Spec, opts: DetachedRun): Promise<string> {
  const store = new StateStore(opts.stateRoot);
  const name = opts.name ?? generatedName();
  checkName(name);
  const id = opts.id ?? newId();
  // What dead launchers, supervisors and removals of this root left goes first.
  await reclaimDead(store);
  // Until its supervisor runs, this process owns the container: a "created"
  // one whose launcher died is a stopped container, one whose launcher lives is not.
  const claim = store.claim(id);
  try {
    return await createAndStart(store, spec, opts, id, name);
  } finally {
    store.release(claim);
  }
}

async function createAndStart(
  store: StateStore,
  spec: Spec,
  opts: DetachedRun,
  id: string,
  name: string,
): Promise<string> {
  await store.create({
    id,
    name,
    status: "created",
    created: new Date().toISOString(),
    command: opts.command,
    spec,
    detached: true,
    init: opts.init,
    autoRemove: opts.autoRemove,
    logPath: `${store.dir(id)}/container.log`,
    overlay: opts.overlay,
    removeOnDelete: opts.removeOnDelete,
    stopSignal: opts.stopSignal,
    net: opts.net,
  });
  let said: string;
  try {
    said = await startDaemon(
      selfCommand(["--root", opts.stateRoot, "__supervise", id]),
      `${store.dir(id)}/supervisor.log`,
    );
  } catch (e) {
    store.removeFiles(id, name);
    throw e;
  }
  if (said.startsWith("ok ")) return id;
  store.removeFiles(id, name);
  const m = /^error (\d+) (.*)$/s.exec(said.trim());
  if (m) {
    throw new ContainerError("run", undefined, undefined, m[2].replace(/^run: /, ""), Number(m[1]));
  }
  throw new ContainerError(
    "start container",
    name,
    undefined,
    `its supervisor exited without a word${said ? `: ${said}` : ""}`,
  );
}
