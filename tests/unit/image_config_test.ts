import assert from "node:assert/strict";
import { DEFAULT_IMAGE_PATH, mergeImageConfig } from "../../lib/image/run_image.ts";
import { normalizeRef } from "../../lib/image/store.ts";
import { safeRelative } from "../../lib/image/extract.ts";

const config = {
  Env: ["PATH=/usr/bin:/bin", "LANG=C"],
  Entrypoint: ["/entry"],
  Cmd: ["serve", "--port", "80"],
  WorkingDir: "/app",
  User: "www",
  StopSignal: "SIGQUIT",
};

Deno.test("image config: docker's merge of entrypoint, cmd, env, workdir and user", () => {
  assert.deepEqual(mergeImageConfig(config, { cmd: [], env: [] }), {
    args: ["/entry", "serve", "--port", "80"],
    env: ["PATH=/usr/bin:/bin", "LANG=C"],
    cwd: "/app",
    user: "www",
    stopSignal: "SIGQUIT",
  });
  const given = mergeImageConfig(config, {
    cmd: ["version"],
    env: ["LANG=fr"],
    workdir: "/tmp",
    user: "0",
  });
  assert.deepEqual(
    given.args,
    ["/entry", "version"],
    "the command replaces Cmd, not the entrypoint",
  );
  assert.deepEqual(
    given.env,
    ["PATH=/usr/bin:/bin", "LANG=fr"],
    "-e replaces the image's value in place (glibc's getenv takes the first of duplicates)",
  );
  assert.equal(given.cwd, "/tmp");
  assert.equal(given.user, "0");
  assert.deepEqual(mergeImageConfig(config, { entrypoint: "/bin/sh", cmd: [], env: [] }).args, [
    "/bin/sh",
  ], "--entrypoint drops Cmd");
  assert.deepEqual(mergeImageConfig(config, { entrypoint: "", cmd: ["ls"], env: [] }).args, ["ls"]);
  assert.throws(() => mergeImageConfig({}, { cmd: [], env: [] }), /no command given/);
});

Deno.test("image config: no WorkingDir is /, no PATH gets docker's, -e adds new keys at the end", () => {
  const bare = mergeImageConfig({ Cmd: ["sh"], Env: ["A=1"] }, { cmd: [], env: ["B=2", "A=3"] });
  assert.equal(bare.cwd, "/");
  assert.deepEqual(bare.env, [DEFAULT_IMAGE_PATH, "A=3", "B=2"]);
  assert.equal(bare.user, undefined);
  assert.equal(bare.stopSignal, undefined);
  assert.deepEqual(
    mergeImageConfig({ Cmd: ["sh"], Env: null, WorkingDir: "" }, { cmd: [], env: ["PATH=/x"] }),
    { args: ["sh"], env: ["PATH=/x"], cwd: "/", user: undefined, stopSignal: undefined },
  );
});

Deno.test("image refs: a name without a tag is :latest; registries with ports keep theirs", () => {
  assert.equal(normalizeRef("alpine"), "alpine:latest");
  assert.equal(normalizeRef("alpine:3.19"), "alpine:3.19");
  assert.equal(normalizeRef("localhost:5000/bb"), "localhost:5000/bb:latest");
});

Deno.test("layer paths: absolute and .. entries are refused, ./ is fine", () => {
  assert.equal(safeRelative("./etc/passwd", "t"), "etc/passwd");
  assert.throws(() => safeRelative("/etc/passwd", "t"), /"\/etc\/passwd" would land outside/);
  assert.throws(() => safeRelative("a/../../b", "t"), /outside the layer root/);
});
