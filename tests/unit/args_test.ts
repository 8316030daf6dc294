import assert from "node:assert/strict";
import { type FlagDef, parseArgs } from "../../lib/cli/args.ts";
import { ContainerError } from "../../lib/errors.ts";

const DEFS: FlagDef[] = [
  { name: "env", short: "e", value: true, repeat: true, help: "" },
  { name: "hostname", short: "h", value: true, help: "" },
  { name: "init", help: "" },
  { name: "interactive", short: "i", help: "" },
  { name: "tty", short: "t", help: "" },
];

Deno.test("args: flags stop at the first positional; the command keeps its own flags", () => {
  const r = parseArgs(["-e", "A=1", "--init", "sh", "-c", "echo --init -e"], DEFS);
  assert.deepEqual(r.flags, { env: ["A=1"], init: true });
  assert.deepEqual(r.rest, ["sh", "-c", "echo --init -e"]);
});

Deno.test("args: --name=value, attached short values, combined booleans, --", () => {
  const r = parseArgs(["--hostname=box", "-eB=2", "-e", "C=3", "-it", "--", "-x"], DEFS);
  assert.equal(r.flags.hostname, "box");
  assert.deepEqual(r.flags.env, ["B=2", "C=3"]);
  assert.equal(r.flags.interactive, true);
  assert.equal(r.flags.tty, true);
  assert.deepEqual(r.rest, ["-x"]);
});

Deno.test("args: boolean flags accept =true/=false", () => {
  assert.equal(parseArgs(["--init=false", "x"], DEFS).flags.init, false);
  assert.throws(() => parseArgs(["--init=maybe"], DEFS), /true or false/);
});

Deno.test("args: unknown flags and missing values are usage errors with exit 125", () => {
  for (const argv of [["--nope"], ["-z"], ["--hostname"], ["-e"]]) {
    assert.throws(
      () => parseArgs(argv, DEFS),
      (e) => e instanceof ContainerError && e.exitCode === 125,
      argv.join(" "),
    );
  }
  assert.throws(() => parseArgs(["--nope"], DEFS), /unknown flag: --nope/);
});
