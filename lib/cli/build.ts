/**
 * `minicontainer build [-t NAME:TAG]... [-f FILE] [--build-arg K=V]...
 * [--target STAGE] [--no-cache] [--pull] [--network none|host]
 * [--label K=V]... CONTEXT`: an image from a Dockerfile. Every step makes
 * an image of its own (the build cache, shown by `images -a`), keyed as
 * docker keys it: the parent image, the instruction (with the build args a
 * RUN sees) and, for COPY and ADD, the content read. An unchanged rebuild
 * runs nothing and gives the same image id. RUN runs through `run` itself,
 * as a container of the step's image, and its overlayfs upper directory
 * becomes the step's layer; COPY and ADD write a layer directory directly.
 * @module
 */

import { createHash } from "node:crypto";
import { ContainerError, fromDenoError, usageError } from "../errors.ts";
import { type ConfigDoc, type Descriptor, hasBlob, storeImage } from "../image/blobs.ts";
import {
  copyEntry,
  dockerignore,
  isArchive,
  isDirInImage,
  matchSources,
  parseChown,
  resolveInImage,
  sourcesDigest,
  unpackArchive,
} from "../image/build_context.ts";
import { addStep, layerFromDir, parentOf } from "../image/commit.ts";
import { copyLayers } from "../image/copy_root.ts";
import {
  applyConfig,
  type Instruction,
  normalizePath,
  pairs,
  parseDockerfile,
  words,
} from "../image/dockerfile.ts";
import { pull } from "../image/pull.ts";
import { parseReference } from "../image/reference.ts";
import { removeImageRoot } from "../image/run_image.ts";
import { holdContainerDir } from "../rootfs/default.ts";
import type { ImageStore, Lease, LocalImage } from "../image/store.ts";
import { type FlagDef, flagHelp, parseArgs } from "./args.ts";
import { print } from "./output.ts";
import { imageStore } from "./image.ts";

const FLAGS: FlagDef[] = [
  {
    name: "tag",
    short: "t",
    value: true,
    repeat: true,
    meta: "NAME[:TAG]",
    help: "Name the image",
  },
  {
    name: "file",
    short: "f",
    value: true,
    meta: "FILE",
    help: "Dockerfile (default CONTEXT/Dockerfile)",
  },
  { name: "build-arg", value: true, repeat: true, meta: "K=V", help: "Set a build argument" },
  { name: "target", value: true, meta: "STAGE", help: "Build up to this stage" },
  { name: "no-cache", help: "Run every step, whatever the cache has" },
  { name: "pull", help: "Pull every FROM image, even one that is here" },
  {
    name: "network",
    value: true,
    meta: "none|host",
    help: "RUN's network (default host: RUN apk add works)",
  },
  { name: "label", value: true, repeat: true, meta: "K=V", help: "Label the image" },
  { name: "quiet", short: "q", help: "Print only the image id" },
  { name: "help", help: "Show this help" },
];

/** A stage being built: its current image (none before a first step on scratch). */
interface Stage {
  name?: string;
  image?: LocalImage;
  doc: ConfigDoc;
  layers: Descriptor[];
  cmdSet: boolean;
  args: Record<string, string>;
}

/** The build cache: step key to the id of the image the step made. */
class Cache {
  private path: string;
  private entries: Record<string, string>;
  constructor(private store: ImageStore) {
    this.path = `${store.root}/build-cache.json`;
    try {
      this.entries = JSON.parse(Deno.readTextFileSync(this.path));
    } catch {
      this.entries = {};
    }
  }
  /** The cached image for `key`, when it is still whole in the store. */
  get(key: string): LocalImage | undefined {
    const id = this.entries[key];
    const image = id ? this.store.find(id) : undefined;
    if (!image?.manifest || !hasBlob(this.store.root, image.manifest)) return undefined;
    return image.layers.every((l) => this.store.hasLayer(l)) ? image : undefined;
  }
  set(key: string, id: string): void {
    // Re-read: another build may have added entries meanwhile.
    try {
      this.entries = { ...JSON.parse(Deno.readTextFileSync(this.path)), ...this.entries };
    } catch { /* first entry */ }
    this.entries[key] = id;
    const tmp = `${this.path}.tmp-${Deno.pid}`;
    try {
      Deno.writeTextFileSync(tmp, JSON.stringify(this.entries));
      Deno.renameSync(tmp, this.path);
    } catch (e) {
      throw fromDenoError("write build cache", this.path, e);
    }
  }
}

function configEnv(doc: ConfigDoc): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of doc.config?.Env ?? []) {
    const eq = e.indexOf("=");
    env[eq < 0 ? e : e.slice(0, eq)] = eq < 0 ? "" : e.slice(eq + 1);
  }
  return env;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));

/** The `build` command. */
export async function main(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv, FLAGS);
  if (flags.help) {
    print(`Usage: minicontainer build [OPTIONS] CONTEXT\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (rest.length !== 1) throw usageError("build takes one context directory");
  const context = rest[0];
  try {
    if (!Deno.statSync(context).isDirectory) throw usageError(`${context} is not a directory`);
  } catch (e) {
    throw fromDenoError("read build context", context, e);
  }
  const network = (flags.network as string | undefined) ?? "host";
  if (network !== "none" && network !== "host") {
    throw usageError(`--network must be none or host, not "${network}"`);
  }
  const tags = ((flags.tag as string[] | undefined) ?? []).map((t) => {
    const ref = parseReference(t);
    if (ref.digest) throw usageError(`-t ${t}: name a tag, not a digest`);
    return ref.local;
  });
  const buildArgs: Record<string, string> = {};
  for (const a of (flags["build-arg"] as string[] | undefined) ?? []) {
    const eq = a.indexOf("=");
    if (eq < 0) {
      const v = Deno.env.get(a);
      if (v !== undefined) buildArgs[a] = v;
    } else buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
  }
  const labels: Record<string, string> = {};
  for (const l of (flags.label as string[] | undefined) ?? []) {
    const eq = l.indexOf("=");
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  const file = (flags.file as string | undefined) ?? `${context}/Dockerfile`;
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    throw fromDenoError("read Dockerfile", file, e);
  }
  const store = imageStore();
  const lease = store.lease();
  try {
    const builder = new Builder(store, lease, context, {
      buildArgs,
      network,
      noCache: flags["no-cache"] === true,
      pull: flags.pull === true,
      quiet: flags.quiet === true,
    });
    const stage = await builder.build(parseDockerfile(text), flags.target as string | undefined);
    let image = stage.image;
    if (Object.keys(labels).length || !image) {
      const doc = clone(stage.doc);
      if (Object.keys(labels).length) {
        doc.config = { ...doc.config, Labels: { ...doc.config?.Labels, ...labels } };
      }
      image = await storeImage(store, tags, doc, stage.layers, !tags.length);
    } else {
      for (const ref of tags) {
        const { digest: _d, intermediate: _i, ...named } = image;
        await store.register({ ...named, ref });
      }
    }
    if (!flags.quiet) { for (const t of tags) console.error(`Successfully tagged ${t}`); }
    print(image.id);
    return 0;
  } finally {
    lease.release();
  }
}

/** Runs a Dockerfile's instructions. */
class Builder {
  private stages: Stage[] = [];
  private cache: Cache;
  private ignored: (rel: string) => boolean;

  constructor(
    private store: ImageStore,
    private lease: Lease,
    private context: string,
    private opts: {
      buildArgs: Record<string, string>;
      network: string;
      noCache: boolean;
      pull: boolean;
      quiet: boolean;
    },
  ) {
    this.cache = new Cache(store);
    this.ignored = dockerignore(context);
  }

  private log(line: string): void {
    if (!this.opts.quiet) console.error(line);
  }

  /** Builds every stage up to `target` (default: the last); resolves to that stage. */
  async build(instructions: Instruction[], target?: string): Promise<Stage> {
    const globals: Record<string, string> = {};
    let i = 0;
    for (; i < instructions.length && instructions[i].cmd !== "FROM"; i++) {
      const ins = instructions[i];
      if (ins.cmd !== "ARG") {
        throw new ContainerError(
          "build",
          `line ${ins.line}`,
          undefined,
          `${ins.cmd} before the first FROM (only ARG may come before it)`,
        );
      }
      for (const [k, v] of pairs(ins, globals, true)) {
        const value = this.opts.buildArgs[k] ?? v;
        if (value !== undefined) globals[k] = value;
      }
    }
    if (i === instructions.length) {
      throw new ContainerError("build", undefined, undefined, "the Dockerfile has no FROM");
    }
    const total = instructions.length - i;
    let step = 0;
    let stage: Stage | undefined;
    for (; i < instructions.length; i++) {
      const ins = instructions[i];
      this.log(`STEP ${++step}/${total}: ${ins.original}`);
      if (ins.cmd === "FROM") {
        if (stage && target !== undefined && stage.name === target) return stage;
        stage = await this.from(ins, globals);
        this.stages.push(stage);
        continue;
      }
      await this.step(stage!, ins, globals);
    }
    if (target !== undefined && stage!.name !== target) {
      throw new ContainerError("build", target, undefined, "no stage of that name");
    }
    return stage!;
  }

  private async from(ins: Instruction, globals: Record<string, string>): Promise<Stage> {
    const ws = words(ins.args, globals);
    if (ws.length !== 1 && !(ws.length === 3 && ws[1].toUpperCase() === "AS")) {
      throw new ContainerError(
        "build",
        `line ${ins.line}`,
        undefined,
        "FROM takes IMAGE [AS NAME]",
      );
    }
    const name = ws[2]?.toLowerCase();
    const base = ws[0];
    const earlier = this.stages.find((s) => s.name === base.toLowerCase());
    if (earlier) {
      const { image, doc, layers } = earlier;
      return { name, image, doc: clone(doc), layers: [...layers], cmdSet: false, args: {} };
    }
    if (base === "scratch") {
      return { name, ...parentOf(this.store, undefined), cmdSet: false, args: {} };
    }
    const image = await this.baseImage(base);
    return { name, image, ...parentOf(this.store, image), cmdSet: false, args: {} };
  }

  /** A FROM image: the local one, or pulled when missing (or always with --pull). */
  private async baseImage(ref: string): Promise<LocalImage> {
    let image = this.opts.pull ? undefined : this.store.find(ref);
    if (!image) {
      await pull(this.store, ref);
      image = this.store.find(parseReference(ref).local);
    }
    if (!image) throw new ContainerError("build", ref, undefined, "no such image");
    return image;
  }

  /** Runs one instruction of `stage`, or takes its result from the cache. */
  private async step(stage: Stage, ins: Instruction, globals: Record<string, string>) {
    // What substitution sees: the stage's ARGs, then its ENV (ENV wins, as in docker).
    const env = { ...stage.args, ...configEnv(stage.doc) };
    if (ins.cmd === "ARG") {
      for (const [k, v] of pairs(ins, env, true)) {
        const value = this.opts.buildArgs[k] ?? v ?? globals[k];
        if (value !== undefined) stage.args[k] = value;
      }
      return;
    }
    if (ins.cmd === "ONBUILD" && /^\s*(ONBUILD|FROM)\b/i.test(ins.args)) {
      throw new ContainerError(
        "build",
        `line ${ins.line}`,
        undefined,
        "ONBUILD cannot trigger that",
      );
    }
    const shell = stage.doc.config?.Shell ?? ["/bin/sh", "-c"];
    // The args a RUN sees that the config does not set: part of the step, so of its key.
    const runArgs = Object.entries(stage.args).filter(([k]) => !(k in configEnv(stage.doc)))
      .map(([k, v]) => `${k}=${v}`).sort();
    let createdBy: string;
    let extra = "";
    if (ins.cmd === "RUN") {
      const cmd = ins.json ? ins.json.join(" ") : `${shell.join(" ")} ${ins.args}`;
      createdBy = runArgs.length ? `|${runArgs.length} ${runArgs.join(" ")} ${cmd}` : cmd;
    } else if (ins.cmd === "COPY" || ins.cmd === "ADD") {
      createdBy = `/bin/sh -c #(nop) ${ins.original}`;
      extra = this.copySources(stage, ins, env).key;
    } else createdBy = `/bin/sh -c #(nop) ${ins.original}`;
    const key = createHash("sha256").update(
      JSON.stringify([stage.image?.id ?? "scratch", createdBy, extra]),
    ).digest("hex");
    const cached = this.opts.noCache ? undefined : this.cache.get(key);
    if (cached) {
      this.log(`--> Using cache ${cached.id.slice(7, 19)}`);
      Object.assign(stage, { image: cached, ...parentOf(this.store, cached) });
      if (ins.cmd === "CMD") stage.cmdSet = true;
      return;
    }
    let doc = clone(stage.doc);
    let layers = stage.layers;
    if (ins.cmd === "RUN") {
      const { desc, diffId } = await this.run(stage, ins, shell, runArgs);
      doc = addStep(doc, { createdBy, diffId });
      layers = [...layers, desc];
    } else if (ins.cmd === "COPY" || ins.cmd === "ADD") {
      const { desc, diffId } = await this.copy(stage, ins, env);
      doc = addStep(doc, { createdBy, diffId });
      layers = [...layers, desc];
    } else {
      const state = { doc, cmdSet: stage.cmdSet };
      if (!applyConfig(state, ins, env)) {
        throw new ContainerError(
          "build",
          `line ${ins.line}`,
          undefined,
          `unknown instruction ${ins.cmd}`,
        );
      }
      stage.cmdSet = state.cmdSet;
      doc = addStep(state.doc, { createdBy });
    }
    const image = await storeImage(this.store, [], doc, layers, true);
    this.cache.set(key, image.id);
    this.log(`--> ${image.id.slice(7, 19)}`);
    Object.assign(stage, { image, doc, layers });
  }

  /** RUN: the step's image run as a container; its upper directory is the new layer. */
  private async run(stage: Stage, ins: Instruction, shell: string[], runArgs: string[]) {
    if (!stage.image) {
      throw new ContainerError(
        "RUN",
        `line ${ins.line}`,
        undefined,
        "an empty image (FROM scratch) has nothing to run",
      );
    }
    const lowerdirs = this.store.rootLayers(stage.image);
    const workdir = stage.doc.config?.WorkingDir;
    let root: { upperdir: string; dir: string } | undefined;
    // Held (as run holds it) until its upper directory is a layer: a reclaimer leaves it be.
    let hold: Deno.FsFile | undefined;
    const { main: run } = await import("./run.ts");
    let code: number;
    try {
      code = await run([
        "--rm", // a RUN step's container is not kept (docker build's --rm)
        "--network",
        this.opts.network,
        "--pull",
        "never",
        "--entrypoint=",
        ...runArgs.flatMap((a) => ["-e", a]),
        stage.image.id,
        ...(ins.json ?? [...shell, ins.args]),
      ], {
        keepImageRoot: true,
        onImageRoot: (r) => {
          root = r;
          hold = holdContainerDir(r.dir);
          // docker makes the WORKDIR a RUN starts in.
          if (workdir) {
            Deno.mkdirSync(`${r.upperdir}${resolveInImage(lowerdirs, workdir)}`, {
              recursive: true,
            });
          }
        },
      });
      if (code !== 0) {
        throw new ContainerError("RUN", ins.args, undefined, `it exited with status ${code}`);
      }
      if (!root) throw new ContainerError("RUN", ins.args, undefined, "no image root was made");
      this.dropMountpoints(root.upperdir, lowerdirs);
      return await layerFromDir(this.store, root.upperdir, this.lease);
    } finally {
      if (root) removeImageRoot(root.dir);
      hold?.close();
    }
  }

  /**
   * Removes what the runtime itself left in a RUN's upper directory, not the
   * command: empty mount points (/proc, /sys, /dev, /etc/hosts...) the image
   * did not have.
   */
  private dropMountpoints(upper: string, lowerdirs: string[]): void {
    for (const p of ["/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]) {
      let info: Deno.FileInfo;
      try {
        info = Deno.lstatSync(`${upper}${p}`);
      } catch {
        continue;
      }
      const inImage = lowerdirs.some((l) => {
        try {
          Deno.lstatSync(`${l}${p}`);
          return true;
        } catch {
          return false;
        }
      });
      if (inImage) continue;
      const empty = info.isDirectory
        ? [...Deno.readDirSync(`${upper}${p}`)].length === 0
        : info.isFile && info.size === 0;
      if (empty) Deno.removeSync(`${upper}${p}`);
    }
    // /etc itself, when made only to hold those mount points.
    try {
      const etc = `${upper}/etc`;
      if (
        ![...Deno.readDirSync(etc)].length &&
        !lowerdirs.some((l) => {
          try {
            return Deno.lstatSync(`${l}/etc`).isDirectory;
          } catch {
            return false;
          }
        })
      ) Deno.removeSync(etc);
    } catch { /* no /etc */ }
  }

  /** Where COPY/ADD read: the context, or --from's stage or image (its files copied out). */
  private sourceRoot(
    ins: Instruction,
  ): { root: string; ignored: (rel: string) => boolean; id: string; layers?: string[] } {
    const from = ins.flags.from;
    if (!from) return { root: this.context, ignored: this.ignored, id: "context" };
    const stage = /^\d+$/.test(from)
      ? this.stages[Number(from)]
      : this.stages.find((s) => s.name === from.toLowerCase());
    const image = stage ? stage.image : this.store.find(from);
    if (!stage && !image) {
      throw new ContainerError("COPY --from", from, undefined, "no such stage or image");
    }
    const layers = image ? this.store.rootLayers(image) : [];
    return { root: "", ignored: () => false, id: image?.id ?? "scratch", layers };
  }

  /** The sources of a COPY/ADD and its cache key (the content they hold). */
  private copySources(stage: Stage, ins: Instruction, env: Record<string, string>) {
    const ws = ins.json ?? words(ins.args, env);
    if (ws.length < 2) {
      throw new ContainerError(
        ins.cmd,
        `line ${ins.line}`,
        undefined,
        "needs a source and a destination",
      );
    }
    for (const f of Object.keys(ins.flags)) {
      if (!["chown", "from", "link"].includes(f)) {
        throw new ContainerError(ins.cmd, `--${f}`, undefined, "this flag is not supported");
      }
    }
    if (ins.cmd === "ADD" && ws.slice(0, -1).some((s) => /^[a-z]+:\/\//.test(s))) {
      throw new ContainerError("ADD", ins.args, undefined, "URLs are not supported; use RUN wget");
    }
    const src = this.sourceRoot(ins);
    let key = `${src.id}\0${ins.flags.chown ?? ""}\0${stage.doc.config?.WorkingDir ?? ""}`;
    if (!src.layers) {
      const sources = matchSources(src.root, ws.slice(0, -1), src.ignored);
      key += sourcesDigest(sources, src.ignored);
    }
    return { ws, src, key };
  }

  /** COPY/ADD: the sources written into a fresh layer directory at the destination. */
  private async copy(stage: Stage, ins: Instruction, env: Record<string, string>) {
    const { ws, src } = this.copySources(stage, ins, env);
    const lowerdirs = stage.image ? this.store.rootLayers(stage.image) : [];
    const tmp = this.store.tempDir("copy");
    let fromDir: string | undefined;
    try {
      let root = src.root;
      if (src.layers) {
        fromDir = this.store.tempDir("from");
        copyLayers(src.layers, fromDir);
        root = fromDir;
      }
      const patterns = ws.slice(0, -1);
      const sources = matchSources(root, patterns, src.ignored);
      const dest = ws[ws.length - 1];
      const workdir = stage.doc.config?.WorkingDir || "/";
      const destAbs = normalizePath(dest.startsWith("/") ? dest : `${workdir}/${dest}`);
      const many = sources.length > 1 || patterns.some((p) => /[*?[]/.test(p));
      const destIsDir = dest.endsWith("/") || isDirInImage(lowerdirs, destAbs);
      if (many && !destIsDir) {
        throw new ContainerError(
          ins.cmd,
          dest,
          undefined,
          "with more than one source the destination must be a directory ending in /",
        );
      }
      const owner = ins.flags.chown ? parseChown(lowerdirs, ins.flags.chown) : { uid: 0, gid: 0 };
      const target = resolveInImage(lowerdirs, destAbs);
      for (const s of sources) {
        // Not followed: a symlink in the context is copied as one (its target may be the host's).
        const info = Deno.lstatSync(s.abs);
        if (info.isDirectory) {
          this.mkdirs(tmp, target, lowerdirs);
          for (const e of [...Deno.readDirSync(s.abs)].map((e) => e.name).sort()) {
            const rel = s.rel ? `${s.rel}/${e}` : e;
            if (!src.ignored(rel)) {
              copyEntry(`${s.abs}/${e}`, `${tmp}${target}/${e}`, owner, src.ignored, rel);
            }
          }
        } else if (ins.cmd === "ADD" && !src.layers && info.isFile && (await isArchive(s.abs))) {
          this.mkdirs(tmp, target, lowerdirs);
          await unpackArchive(s.abs, `${tmp}${target}`);
        } else {
          const name = s.rel.slice(s.rel.lastIndexOf("/") + 1);
          const path = destIsDir ? `${target}/${name}` : target;
          this.mkdirs(tmp, path.slice(0, path.lastIndexOf("/")) || "/", lowerdirs);
          copyEntry(s.abs, `${tmp}${path}`, owner);
        }
      }
      return await layerFromDir(this.store, tmp, this.lease);
    } finally {
      Deno.removeSync(tmp, { recursive: true });
      if (fromDir) Deno.removeSync(fromDir, { recursive: true });
    }
  }

  /**
   * Makes `path`'s directories in layer directory `tmp`, each with the
   * owner, mode and time the image gives it (a new one: root's, 0755): a
   * layer's directory replaces the metadata of the one below it.
   */
  private mkdirs(tmp: string, path: string, lowerdirs: string[]): void {
    let at = "";
    for (const part of path.split("/").filter(Boolean)) {
      at += `/${part}`;
      try {
        Deno.lstatSync(`${tmp}${at}`);
        continue;
      } catch { /* to make */ }
      Deno.mkdirSync(`${tmp}${at}`, { mode: 0o755 });
      const below = lowerdirs.find((l) => {
        try {
          return Deno.lstatSync(`${l}${at}`).isDirectory;
        } catch {
          return false;
        }
      });
      if (below) {
        const info = Deno.lstatSync(`${below}${at}`);
        Deno.chmodSync(`${tmp}${at}`, info.mode! & 0o7777);
        Deno.chownSync(`${tmp}${at}`, info.uid!, info.gid!);
        if (info.mtime) Deno.utimeSync(`${tmp}${at}`, info.mtime, info.mtime);
      } else Deno.chmodSync(`${tmp}${at}`, 0o755);
    }
  }
}
