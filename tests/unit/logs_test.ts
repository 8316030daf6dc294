import assert from "node:assert/strict";
import { LogReader, tailOffset } from "../../lib/state/logs.ts";
import type { LogEntry } from "../../lib/state/logs.ts";

function entries(path: string, tail?: number): string[] {
  const file = Deno.openSync(path);
  try {
    if (tail !== undefined) file.seekSync(tailOffset(file, tail), Deno.SeekMode.Start);
    const out: string[] = [];
    new LogReader(file).drain((es: LogEntry[]) => out.push(...es.map((e) => e.log)));
    return out;
  } finally {
    file.close();
  }
}

Deno.test("logs: tail finds the last N entries, skipping lines that are no entry and a torn last line", () => {
  const path = Deno.makeTempFileSync();
  // As the monitor (ffi/monitor.c) writes them.
  const time = "2026-01-02T03:04:05.123456789Z";
  Deno.writeTextFileSync(
    path,
    Array.from(
      { length: 5000 },
      (_, i) =>
        `${JSON.stringify({ log: `line ${i}\n`, stream: i % 2 ? "stderr" : "stdout", time })}\n`,
    ).join(""),
  );
  Deno.writeTextFileSync(path, "not json: a torn line's rest\n", { append: true });
  Deno.writeTextFileSync(path, '{"log":"being wri', { append: true });
  assert.deepEqual(entries(path, 2), ["line 4998\n", "line 4999\n"]);
  assert.deepEqual(entries(path, 0), []);
  assert.equal(entries(path, 1_000_000).length, 5000);
  assert.equal(entries(path).length, 5000);
  assert.equal(entries(path)[0], "line 0\n");
  Deno.removeSync(path);
});
