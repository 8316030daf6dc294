/**
 * The subset of docker's Go templates that `inspect -f` and `ps --format`
 * take: `{{.Field.Path}}`, `{{json .Field}}`, `{{index .Field "key"}}` and
 * `{{.}}`, with text around them and `\t`, `\n` escapes. Anything else is
 * refused before any container is read.
 * @module
 */

import { usageError } from "../errors.ts";

const PATH = String.raw`(?:(?:\.[A-Za-z0-9_]+)+|\.)`;
const FIELD = new RegExp(
  String.raw`\{\{\s*(?:(json)\s+(${PATH})|index\s+(${PATH})\s+"([^"]*)"|(${PATH}))\s*\}\}`,
  "g",
);

/** A checked template. */
export interface Template {
  text: string;
}

/** Checks `text`: only the subset above is understood; a usage error otherwise. */
export function parseTemplate(text: string, flag: string): Template {
  if (text.replace(FIELD, "").includes("{{")) {
    throw usageError(
      `${flag} understands {{.Field.Path}}, {{json .Field}} and {{index .Field "key"}} only, not "${text}"`,
    );
  }
  return { text: text.replaceAll("\\t", "\t").replaceAll("\\n", "\n") };
}

function lookup(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split(".").filter(Boolean)) {
    v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}

function show(v: unknown, json: boolean): string {
  if (json) return JSON.stringify(v ?? null);
  if (v === undefined || v === null) return "<no value>";
  if (Array.isArray(v)) return `[${v.map((x) => show(x, false)).join(" ")}]`;
  if (typeof v === "object") {
    // Go prints a map as map[k:v ...], sorted by key.
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
      a.localeCompare(b)
    );
    return `map[${entries.map(([k, x]) => `${k}:${show(x, false)}`).join(" ")}]`;
  }
  return String(v);
}

/** `template` with each field replaced from `value`. */
export function render(template: Template, value: unknown): string {
  return template.text.replace(
    FIELD,
    (_, json?: string, jsonPath?: string, indexPath?: string, key?: string, path?: string) => {
      if (json) return show(lookup(value, jsonPath!), true);
      if (indexPath !== undefined) {
        const map = lookup(value, indexPath);
        const v = map !== null && typeof map === "object"
          ? (map as Record<string, unknown>)[key!]
          : undefined;
        return v === undefined ? "" : show(v, false);
      }
      return show(lookup(value, path!), false);
    },
  );
}
