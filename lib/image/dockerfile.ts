/**
 * Dockerfiles as docker's BuildKit frontend reads them: parser directives
 * (escape), comments, line continuations, instructions with their --flags,
 * exec (JSON) and shell forms, docker's word splitting and ${VAR}
 * substitution (with :- :+ - +), and the instructions that only change the
 * image config (ENV, CMD, EXPOSE...) applied to one, which `commit -c` uses
 * too. Written here rather than taken from npm: the maintained parser there
 * (dockerfile-ast) is an editor's syntax tree with positions and the
 * language server's types, and still leaves word splitting and
 * substitution, the semantic part, to its user. Heredocs (`RUN <<EOF`) are
 * not supported and are refused.
 * @module
 */

import { ContainerError } from "../errors.ts";
import type { ConfigDoc } from "./blobs.ts";

/** One instruction, continuation lines joined. */
export interface Instruction {
  /** Upper case: "RUN". */
  cmd: string;
  /** --name=value flags before the arguments. */
  flags: Record<string, string>;
  /** The arguments as written (after the flags). */
  args: string;
  /** The exec form's strings when the arguments are a JSON array of strings. */
  json?: string[];
  /** 1-based line the instruction starts on. */
  line: number;
  /** The instruction as written, continuations joined (docker's history shows it). */
  original: string;
}

function fail(line: number, message: string): ContainerError {
  return new ContainerError("parse Dockerfile", `line ${line}`, undefined, message);
}

const FLAGGED = new Set(["FROM", "COPY", "ADD", "RUN", "HEALTHCHECK"]);

/** Parses a Dockerfile's text into instructions. */
export function parseDockerfile(text: string): Instruction[] {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  let escape = "\\";
  // Parser directives: only at the very top, before any other line.
  for (const l of lines) {
    const m = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(l);
    if (!m) break;
    if (m[1].toLowerCase() === "escape") {
      if (m[2] !== "\\" && m[2] !== "`") throw fail(1, `escape must be \\ or \`, not ${m[2]}`);
      escape = m[2];
    }
  }
  const out: Instruction[] = [];
  let i = 0;
  while (i < lines.length) {
    const start = i;
    let line = lines[i++];
    if (/^\s*#/.test(line) || !line.trim()) continue;
    let joined = "";
    // A line ending in the escape character goes on; comment and empty lines inside are dropped.
    for (;;) {
      const trimmed = line.replace(/\s+$/, "");
      if (trimmed.endsWith(escape) && i <= lines.length) {
        joined += trimmed.slice(0, -1);
        if (i >= lines.length) break;
        line = lines[i++];
        while (i < lines.length && (/^\s*#/.test(line) || !line.trim())) line = lines[i++];
        if (/^\s*#/.test(line) || !line.trim()) break;
        continue;
      }
      joined += line;
      break;
    }
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(joined);
    if (!m) continue;
    const cmd = m[1].toUpperCase();
    let args = m[2].trim();
    const flags: Record<string, string> = {};
    if (FLAGGED.has(cmd)) {
      for (;;) {
        const f = /^--([a-z-]+)(?:=(\S*))?(?:\s+|$)/.exec(args);
        if (!f) break;
        flags[f[1]] = f[2] ?? "true";
        args = args.slice(f[0].length);
      }
    }
    if (/^<<-?["']?[A-Za-z_]/.test(args) && (cmd === "RUN" || cmd === "COPY")) {
      throw fail(start + 1, "heredocs are not supported");
    }
    let json: string[] | undefined;
    if (args.startsWith("[")) {
      try {
        const v = JSON.parse(args);
        if (Array.isArray(v) && v.every((s) => typeof s === "string")) json = v;
      } catch { /* the shell form, brackets and all */ }
    }
    out.push({ cmd, flags, args, json, line: start + 1, original: joined.trim() });
  }
  return out;
}

/**
 * Docker's word processing of `text`: words split on unquoted white space,
 * quotes removed, escapes honoured, and $VAR, ${VAR}, ${VAR:-x}, ${VAR:+x},
 * ${VAR-x}, ${VAR+x} replaced from `env` (K=V entries; later wins).
 */
export function words(text: string, env: Record<string, string>, escape = "\\"): string[] {
  const out: string[] = [];
  let word = "";
  let inWord = false;
  // An unquoted expansion to nothing is no word ("" is one): the shell's rule.
  let quoted = false;
  let i = 0;
  const variable = (): string => {
    // at "$"
    i++;
    if (text[i] === "{") {
      const end = findClose(text, i);
      const body = text.slice(i + 1, end);
      i = end + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([\s\S]*))?$/.exec(body);
      if (!m) throw new ContainerError("substitute", `\${${body}}`, undefined, "bad substitution");
      const set = m[1] in env;
      const value = env[m[1]] ?? "";
      const word = m[3] !== undefined ? words(m[3], env, escape).join(" ") : "";
      switch (m[2]) {
        case ":-":
          return set && value !== "" ? value : word;
        case "-":
          return set ? value : word;
        case ":+":
          return set && value !== "" ? word : "";
        case "+":
          return set ? word : "";
      }
      return value;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (!m) return "$";
    i += m[0].length;
    return env[m[0]] ?? "";
  };
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      if (inWord && (word || quoted)) out.push(word);
      word = "";
      inWord = quoted = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === escape && i + 1 < text.length) {
      word += text[i + 1];
      i += 2;
    } else if (c === "'") {
      quoted = true;
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ContainerError("parse", text, undefined, "unterminated single quote");
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      quoted = true;
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === escape && i + 1 < text.length && /["$`\\]/.test(text[i + 1])) {
          word += text[i + 1];
          i += 2;
        } else if (text[i] === "$") word += variable();
        else word += text[i++];
      }
      if (text[i] !== '"') {
        throw new ContainerError("parse", text, undefined, "unterminated double quote");
      }
      i++;
    } else if (c === "$") word += variable();
    else {
      word += c;
      i++;
    }
  }
  if (inWord && (word || quoted)) out.push(word);
  return out;
}

function findClose(text: string, open: number): number {
  let depth = 0;
  for (let j = open; j < text.length; j++) {
    if (text[j] === "{") depth++;
    else if (text[j] === "}" && --depth === 0) return j;
  }
  throw new ContainerError("substitute", text.slice(open - 1), undefined, "missing }");
}

/** K=V pairs of ENV, LABEL and ARG (or the legacy `ENV K V...` form). */
export function pairs(
  ins: Instruction,
  env: Record<string, string>,
  allowBare = false,
): [string, string | undefined][] {
  const ws = words(ins.args, env);
  if (!ws.length) throw fail(ins.line, `${ins.cmd} needs arguments`);
  if (!ws[0].includes("=") && ins.cmd !== "ARG") {
    // Legacy: the first word is the key, the rest (raw, substituted) the value.
    const rest = ins.args.trim().slice(ins.args.trim().search(/\s/) + 1);
    if (ws.length < 2) throw fail(ins.line, `${ins.cmd} ${ws[0]} needs a value`);
    return [[ws[0], words(rest, env).join(" ")]];
  }
  return ws.map((w) => {
    const eq = w.indexOf("=");
    if (eq < 0) {
      if (!allowBare) throw fail(ins.line, `${ins.cmd} ${w}: expected KEY=VALUE`);
      return [w, undefined];
    }
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** A process the image runs: exec form as is, shell form under `shell`. */
export function commandOf(ins: Instruction, shell: string[]): string[] {
  return ins.json ?? [...shell, ins.args];
}

/** docker's duration syntax (30s, 1m30s, 500ms) in nanoseconds. */
function duration(text: string, line: number): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let m;
  let at = 0;
  while ((m = re.exec(text))) {
    const unit = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2]]!;
    total += Number(m[1]) * unit;
    at = re.lastIndex;
  }
  if (at !== text.length || !text) throw fail(line, `"${text}" is not a duration`);
  return Math.round(total);
}

/** Image-config state a build carries from instruction to instruction. */
export interface ConfigState {
  doc: ConfigDoc;
  /** Whether CMD was set in this stage (an ENTRYPOINT then keeps it, else clears it). */
  cmdSet: boolean;
}

const DEFAULT_SHELL = ["/bin/sh", "-c"];

/**
 * Applies a config-only instruction (ENV, CMD, ENTRYPOINT, WORKDIR, USER,
 * EXPOSE, LABEL, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, MAINTAINER,
 * ONBUILD) to `state`; false when `ins` is not one. `env` is what
 * substitution sees (the image's Env and the build args).
 */
export function applyConfig(
  state: ConfigState,
  ins: Instruction,
  env: Record<string, string>,
): boolean {
  const c = (state.doc.config ??= {});
  const shell = c.Shell ?? DEFAULT_SHELL;
  switch (ins.cmd) {
    case "ENV": {
      const list = [...(c.Env ?? [])];
      for (const [k, v] of pairs(ins, env)) {
        const at = list.findIndex((e) => e.slice(0, e.indexOf("=")) === k);
        if (at >= 0) list[at] = `${k}=${v}`;
        else list.push(`${k}=${v}`);
        env[k] = v!; // for the instructions after (this one's words were expanded before: docker's rule)
      }
      c.Env = list;
      return true;
    }
    case "LABEL":
      c.Labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of pairs(ins, env)) c.Labels[k] = v!;
      return true;
    case "CMD":
      c.Cmd = commandOf(ins, shell);
      state.cmdSet = true;
      return true;
    case "ENTRYPOINT":
      c.Entrypoint = ins.json ?? (ins.args ? [...shell, ins.args] : null);
      if (!state.cmdSet) c.Cmd = null;
      return true;
    case "WORKDIR": {
      const dir = words(ins.args, env).join(" ");
      if (!dir) throw fail(ins.line, "WORKDIR needs a path");
      const base = c.WorkingDir || "/";
      const joined = dir.startsWith("/") ? dir : `${base.replace(/\/$/, "")}/${dir}`;
      c.WorkingDir = normalizePath(joined);
      return true;
    }
    case "USER":
      c.User = words(ins.args, env).join(" ");
      return true;
    case "EXPOSE":
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of words(ins.args, env)) {
        if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(p)) {
          throw fail(ins.line, `"${p}" is not a port`);
        }
        c.ExposedPorts[p.includes("/") ? p : `${p}/tcp`] = {};
      }
      return true;
    case "VOLUME":
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of ins.json ?? words(ins.args, env)) c.Volumes[v] = {};
      return true;
    case "STOPSIGNAL":
      c.StopSignal = words(ins.args, env).join(" ");
      return true;
    case "SHELL":
      if (!ins.json?.length) throw fail(ins.line, "SHELL needs the JSON form");
      c.Shell = ins.json;
      return true;
    case "MAINTAINER":
      state.doc.author = ins.args;
      return true;
    case "ONBUILD":
      (c as Record<string, unknown>).OnBuild = [
        ...((c as { OnBuild?: string[] }).OnBuild ?? []),
        ins.args,
      ];
      return true;
    case "HEALTHCHECK": {
      const rest = /^(\S+)\s*([\s\S]*)$/.exec(ins.args);
      if (rest?.[1].toUpperCase() === "NONE") {
        c.Healthcheck = { Test: ["NONE"] };
        return true;
      }
      if (rest?.[1].toUpperCase() !== "CMD") throw fail(ins.line, "HEALTHCHECK needs CMD or NONE");
      const sub = parseDockerfile(`CMD ${rest[2]}`)[0];
      const hc: Record<string, unknown> = {
        Test: sub.json ? ["CMD", ...sub.json] : ["CMD-SHELL", sub.args],
      };
      const names: Record<string, string> = {
        interval: "Interval",
        timeout: "Timeout",
        "start-period": "StartPeriod",
        "start-interval": "StartInterval",
      };
      for (const [k, v] of Object.entries(ins.flags)) {
        if (k === "retries") hc.Retries = Number(v);
        else if (names[k]) hc[names[k]] = duration(v, ins.line);
        else throw fail(ins.line, `HEALTHCHECK has no flag --${k}`);
      }
      c.Healthcheck = hc;
      return true;
    }
  }
  return false;
}

/** "/a/./b/../c/" as "/a/c". */
export function normalizePath(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (!p || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return `/${parts.join("/")}`;
}
