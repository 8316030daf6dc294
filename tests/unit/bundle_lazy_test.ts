import assert from "node:assert/strict";
import { computeImports, decodeVlq, encodeVlq, shiftMappings } from "../../bundle_lazy.ts";

Deno.test("bundle_lazy: VLQ round trip", () => {
  const values = [0, 1, -1, 15, 16, -16, 1000, -123456];
  assert.deepEqual(decodeVlq(encodeVlq(values)), values);
});

Deno.test("bundle_lazy: each literal chunk import is computed and the map still points at the same code", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const line = 'let a=1;await import("./x.js");f();await import("../../y.js");g()';
    // One segment per token of interest: a, the first import's string, f, the second's string, g.
    const cols = [4, 21, 32, 52, 65];
    const mappings = cols.map((c, i) => encodeVlq([c - (cols[i - 1] ?? 0), 0, 0, i ? 1 : 0]))
      .join(",");
    Deno.writeTextFileSync(`${dir}/c.js`, `${line}\n`);
    Deno.writeTextFileSync(`${dir}/c.js.map`, JSON.stringify({ version: 3, mappings }));
    assert.ok(computeImports(`${dir}/c.js`));
    const out = Deno.readTextFileSync(`${dir}/c.js`).split("\n")[0];
    assert.deepEqual(
      out,
      'let a=1;await import(""+"./x.js");f();await import(""+"../../y.js");g()',
    );
    const map = JSON.parse(Deno.readTextFileSync(`${dir}/c.js.map`));
    let col = 0;
    const moved = map.mappings.split(",").map((s: string) => (col += decodeVlq(s)[0]));
    // The same text starts at each mapped column as before the rewrite.
    for (let i = 0; i < cols.length; i++) {
      assert.deepEqual(out.slice(moved[i], moved[i] + 3), line.slice(cols[i], cols[i] + 3));
    }
    assert.ok(!computeImports(`${dir}/c.js`), "a second pass finds nothing literal");
    assert.deepEqual(shiftMappings("AAAA;CAAC", []), "AAAA;CAAC");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
