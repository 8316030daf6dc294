/**
 * The launcher runs dist/js (bundle.sh) only while it is as new as the
 * sources: a copy of the tree, a source touched, a build that cannot happen.
 * No root needed: `--version` and an unknown command start no container.
 */
import assert from "node:assert/strict";

const REPO = new URL("../../", import.meta.url).pathname;

async function launch(dir: string, ...args: string[]) {
  const out = await new Deno.Command(`${dir}/minicontainer`, {
    args,
    env: { PATH: `${Deno.execPath().replace(/\/[^/]+$/, "")}:/usr/bin:/bin` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

function copyTree(to: string): void {
  for (
    const path of [
      "main.ts",
      "minicontainer",
      "bundle.sh",
      "bundle_lazy.ts",
      "deno.json",
      "ffi",
      "lib",
    ]
  ) {
    const cp = new Deno.Command("cp", { args: ["-a", `${REPO}${path}`, `${to}/`] }).outputSync();
    assert.ok(cp.success, new TextDecoder().decode(cp.stderr));
  }
}

Deno.test("launcher: builds dist/js, runs it, rebuilds it when a source is newer, runs the source when it cannot", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mc-launcher-" });
  try {
    copyTree(dir); // no dist/: the first start builds it
    const first = await launch(dir, "--version");
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^minicontainer /);
    const built = Deno.statSync(`${dir}/dist/js/main.js`).mtime!.getTime();
    assert.ok(Deno.statSync(`${dir}/dist/js/lib/cli/run.js`).isFile);

    // Fresh: not built again.
    assert.equal((await launch(dir, "--version")).code, 0);
    assert.equal(Deno.statSync(`${dir}/dist/js/main.js`).mtime!.getTime(), built);

    // A source newer than the bundle (in a subdirectory of lib/): built again before it runs.
    const later = new Date(Date.now() + 60_000);
    Deno.utimeSync(`${dir}/lib/cgroups/fs.ts`, later, later);
    assert.equal((await launch(dir, "--version")).code, 0);
    assert.ok(Deno.statSync(`${dir}/dist/js/main.js`).mtime!.getTime() > built);
    Deno.utimeSync(`${dir}/lib/cgroups/fs.ts`, new Date(built), new Date(built));

    // A change of the source shows at the next start.
    const main = Deno.readTextFileSync(`${dir}/main.ts`);
    Deno.writeTextFileSync(
      `${dir}/main.ts`,
      main.replace(/VERSION = "[^"]*"/, 'VERSION = "9.9.9-test"'),
    );
    const changed = await launch(dir, "--version");
    assert.equal(changed.stdout.split("\n")[0], "minicontainer version 9.9.9-test", changed.stderr);

    // Where the bundle cannot be built, the source runs.
    Deno.writeTextFileSync(`${dir}/bundle.sh`, "exit 1\n");
    Deno.writeTextFileSync(
      `${dir}/main.ts`,
      main.replace(/VERSION = "[^"]*"/, 'VERSION = "9.9.8-test"'),
    );
    const fallback = await launch(dir, "--version");
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.equal(fallback.stdout.split("\n")[0], "minicontainer version 9.9.8-test");
    assert.equal(fallback.stderr, "");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("main.ts loads no command's module through a literal import (Deno would read them all at start)", () => {
  const main = Deno.readTextFileSync(`${REPO}main.ts`);
  const literal = [...main.matchAll(/import\(\s*["'`]([^"'`]+)["'`]\s*\)/g)].map((m) => m[1]);
  assert.deepEqual(literal, []);
  // Every command named in COMMANDS resolves to a file cli() can load.
  for (const m of main.matchAll(/cli\("(\w+)"\)/g)) {
    assert.ok(Deno.statSync(`${REPO}lib/cli/${m[1]}.ts`).isFile, m[1]);
  }
});
