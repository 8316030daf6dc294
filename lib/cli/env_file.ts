/**
 * `--env-file FILE` (run and exec): docker's format. One variable a line,
 * `K=V` taken as is (no quotes removed, no expansion), a bare `K` takes the
 * host's value or is dropped; blank lines and lines starting with `#` are
 * skipped.
 * @module
 */

import { fromDenoError, usageError } from "../errors.ts";

/** The `K=V` entries of each file, in order, bare names still bare (resolveEnv takes them). */
export function readEnvFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      throw fromDenoError("read env file", path, e);
    }
    text.split("\n").forEach((raw, k) => {
      const line = raw.replace(/\r$/, "");
      const trimmed = line.trimStart();
      if (trimmed === "" || trimmed.startsWith("#")) return;
      const eq = trimmed.indexOf("=");
      const name = eq < 0 ? trimmed.trimEnd() : trimmed.slice(0, eq);
      if (!name || /\s/.test(name)) {
        throw usageError(`env file ${path}, line ${k + 1}: "${line}" is not K=V`);
      }
      out.push(eq < 0 ? name : `${name}${trimmed.slice(eq)}`);
    });
  }
  return out;
}
