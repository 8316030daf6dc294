/**
 * The annotations `run` records in a container's spec and other commands
 * read back (ps, inspect, stop, exec, volume): apart from run.ts, so that
 * reading one does not load run's whole module graph (its seccomp profile,
 * network and security flags) on every `ps` or `stop`.
 * @module
 */

import { usageError } from "../errors.ts";

/** Annotation naming the host directory whose /etc holds the container's users. */
export const PASSWD_ROOT = "org.minicontainer.passwd-root";
/** Annotation of the image (or --rootfs directory) the container runs, for ps and inspect. */
export const IMAGE_ANNOTATION = "org.minicontainer.image";
/** Annotation of stop's grace period in seconds (--stop-timeout). */
export const STOP_TIMEOUT_ANNOTATION = "org.minicontainer.stop-timeout";
/** Prefix of the annotations holding -l labels. */
export const LABEL_PREFIX = "org.minicontainer.label.";

/** `-l K=V` (or a bare K, an empty value) into annotations. */
export function labelAnnotations(labels: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const eq = l.indexOf("=");
    const key = eq < 0 ? l : l.slice(0, eq);
    if (!key) throw usageError(`label "${l}" has no name`);
    out[`${LABEL_PREFIX}${key}`] = eq < 0 ? "" : l.slice(eq + 1);
  }
  return out;
}
