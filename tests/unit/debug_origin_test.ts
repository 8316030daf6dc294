import assert from "node:assert/strict";

const DEBUG = new URL("../../lib/debug.ts", import.meta.url).href;

/** debugOriginUs() and Deno's time origin, in a fresh process with `t0` as MINICONTAINER_T0. */
async function origins(t0: string): Promise<{ origin: number; deno: number }> {
  const code = `import { debugOriginUs } from "${DEBUG}";
console.log(JSON.stringify({ origin: debugOriginUs(), deno: Math.round(performance.timeOrigin * 1000) }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", code],
    env: { MINICONTAINER_T0: t0 },
    stdout: "piped",
  }).output();
  assert.ok(out.success);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("--debug times count from the caller's MINICONTAINER_T0 only when it is a moment before the start", async () => {
  const recent = ((Date.now() - 5) / 1000).toFixed(6);
  const r = await origins(recent);
  assert.equal(r.origin, Math.round(Number(recent) * 1e6));
  assert.ok(r.origin <= r.deno);
  // Inherited from a process long gone, or from the future: Deno's own start.
  for (const stale of ["1700000000", `${Date.now() / 1000 + 3600}`, "junk", ""]) {
    const s = await origins(stale);
    assert.equal(s.origin, s.deno, stale);
  }
});
