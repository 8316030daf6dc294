import assert from "node:assert/strict";
import { LogReader, LogWriter, MAX_LINE, tailOffset } from "../../lib/state/logs.ts";
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

Deno.test("logs: tail finds the last N entries, skipping the supervisor's words and a torn last line", () => {
  const path = Deno.makeTempFileSync();
  const log = new LogWriter(path);
  for (let i = 0; i < 5000; i++) log.write(i % 2 ? "stderr" : "stdout", `line ${i}\n`);
  log.close();
  Deno.writeTextFileSync(path, "not json: the supervisor's own stderr\n", { append: true });
  Deno.writeTextFileSync(path, '{"log":"being wri', { append: true });
  assert.deepEqual(entries(path, 2), ["line 4998\n", "line 4999\n"]);
  assert.deepEqual(entries(path, 0), []);
  assert.equal(entries(path, 1_000_000).length, 5000);
  assert.equal(entries(path).length, 5000);
  assert.equal(entries(path)[0], "line 0\n");
  Deno.removeSync(path);
});

Deno.test("logs: a line without a newline is logged in MAX_LINE pieces, never held whole", () => {
  const path = Deno.makeTempFileSync();
  const log = new LogWriter(path);
  log.write("stdout", "x".repeat(MAX_LINE * 3 + 5));
  assert.equal(entries(path).length, 3, "written before any newline came");
  log.write("stdout", "y\n");
  log.close();
  const all = entries(path);
  assert.equal(all.length, 4);
  assert.equal(all.join(""), "x".repeat(MAX_LINE * 3 + 5) + "y\n");
  Deno.removeSync(path);
});

Deno.test("logs: a full disk drops output without throwing", () => {
  const log = new LogWriter("/dev/full");
  log.write("stdout", "lost\n".repeat(1000));
  log.write("stderr", "also lost\n");
  log.close();
});
