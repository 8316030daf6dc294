// The Dockerfile parser: directives, comments, continuations, forms, words and substitution.
import assert from "node:assert/strict";
import {
  applyConfig,
  type ConfigState,
  pairs,
  parseDockerfile,
  words,
} from "../../lib/image/dockerfile.ts";

Deno.test("dockerfile: continuations, comments inside them, flags, exec and shell forms", () => {
  const ins = parseDockerfile(
    '# syntax=docker/dockerfile:1\nFROM --platform=linux/amd64 bb:1 AS b\n\n# a comment\nrun echo a \\\n  # dropped\n  b\nCMD ["x", "y z"]\nCMD [not json\n',
  );
  assert.deepEqual(ins.map((i) => i.cmd), ["FROM", "RUN", "CMD", "CMD"]);
  assert.deepEqual(ins[0].flags, { platform: "linux/amd64" });
  assert.equal(ins[0].args, "bb:1 AS b");
  assert.equal(ins[1].args, "echo a   b");
  assert.equal(ins[1].line, 5);
  assert.deepEqual(ins[2].json, ["x", "y z"]);
  assert.equal(ins[3].json, undefined, "not JSON: the shell form");
});

Deno.test("dockerfile: the escape directive", () => {
  const ins = parseDockerfile("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n");
  assert.equal(ins[1].args, "dir c:\\   && echo");
});

Deno.test("dockerfile: heredocs are refused, not misread", () => {
  assert.throws(
    () => parseDockerfile("FROM x\nRUN <<EOF\necho\nEOF\n"),
    /heredocs are not supported/,
  );
});

Deno.test("dockerfile: words, quotes and substitution as docker's shell lexer", () => {
  const env = { A: "1", E: "" };
  assert.deepEqual(words(`a "b c" 'd $A' $A \${A}x \\$A`, env), [
    "a",
    "b c",
    "d $A",
    "1",
    "1x",
    "$A",
  ]);
  assert.deepEqual(
    words('${A:-d} ${N:-d} ${E:-d} ${E-d} ${A:+s} ${N:+s}x ${N-"q r"}', env),
    ["1", "d", "d", "s", "x", "q r"],
    "${E-d} of a set, empty E is no word at all",
  );
  assert.deepEqual(words('"$E" x', env), ["", "x"], "a quoted empty expansion is a word");
  assert.throws(() => words("${A", env), /missing }/);
  assert.throws(() => words("'open", env), /unterminated single quote/);
});

Deno.test("dockerfile: ENV pairs, the legacy form, and ARG without a value", () => {
  const [env1] = parseDockerfile('ENV A=1 B="two words" C=$A');
  assert.deepEqual(pairs(env1, {}), [["A", "1"], ["B", "two words"], ["C", ""]]);
  const [legacy] = parseDockerfile("ENV PATH /a:/b  c");
  assert.deepEqual(pairs(legacy, {}), [["PATH", "/a:/b c"]]);
  const [arg] = parseDockerfile("ARG X Y=2");
  assert.deepEqual(pairs(arg, {}, true), [["X", undefined], ["Y", "2"]]);
});

Deno.test("dockerfile: config instructions as docker applies them", () => {
  const state: ConfigState = {
    doc: {
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["base"] },
      rootfs: { type: "layers", diff_ids: [] },
    },
    cmdSet: false,
  };
  const env: Record<string, string> = {};
  for (
    const i of parseDockerfile(
      'ENV A=1 B=$A\nENV C=$A\nWORKDIR /a\nWORKDIR b/../c\nEXPOSE 80 53/udp\nENTRYPOINT echo\nSHELL ["/bin/bash", "-c"]\nCMD run it\nHEALTHCHECK --interval=1m30s --timeout=500ms CMD ["true"]\nUSER $A',
    )
  ) assert.ok(applyConfig(state, i, env), i.cmd);
  const c = state.doc.config!;
  assert.deepEqual(c.Env, ["A=1", "B=", "C=1"], "a pair sees the env before its ENV (docker)");
  assert.equal(c.WorkingDir, "/a/c");
  assert.deepEqual(c.ExposedPorts, { "80/tcp": {}, "53/udp": {} });
  assert.deepEqual(c.Entrypoint, ["/bin/sh", "-c", "echo"]);
  assert.deepEqual(
    c.Cmd,
    ["/bin/bash", "-c", "run it"],
    "ENTRYPOINT cleared the base's CMD; SHELL applies",
  );
  assert.deepEqual(c.Healthcheck, { Test: ["CMD", "true"], Interval: 90e9, Timeout: 500e6 });
  assert.equal(c.User, "1");
  assert.equal(applyConfig(state, parseDockerfile("RUN x")[0], env), false);
});
