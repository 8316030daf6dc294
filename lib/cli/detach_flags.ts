/**
 * The flags of `run -d` alone: --restart and --log-opt.
 * @module
 */

import type { RestartPolicy } from "../container/detached_run.ts";
import { DEFAULT_LOG, type LogOptions } from "../state/logs.ts";
import { usageError } from "../errors.ts";
import { parseBytes } from "./resource_flags.ts";

/** Parses --restart (docker's forms); undefined when not given. */
export function parseRestart(text: string | undefined): RestartPolicy | undefined {
  if (text === undefined) return undefined;
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(text);
  if (!m || (m[2] !== undefined && m[1] !== "on-failure")) {
    throw usageError(
      `--restart "${text}" is not no, on-failure[:N], always or unless-stopped`,
    );
  }
  return {
    name: m[1] as RestartPolicy["name"],
    max: m[2] === undefined ? undefined : Number(m[2]),
  };
}

/** Parses --log-opt K=V entries: max-size (docker units) and max-file. */
export function parseLogOpts(entries: readonly string[]): LogOptions {
  const out = { ...DEFAULT_LOG };
  for (const e of entries) {
    const [k, v] = [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)];
    if (k === "max-size") out.maxSize = parseBytes("log-opt max-size", v);
    else if (k === "max-file" && /^[1-9]\d{0,3}$/.test(v)) out.maxFiles = Number(v);
    else {
      throw usageError(
        `--log-opt "${e}" is not max-size=BYTES or max-file=N (N from 1 to 9999)`,
      );
    }
  }
  if (out.maxSize < 4096) throw usageError("--log-opt max-size must be at least 4k");
  return out;
}
