import assert from "node:assert/strict";
import { classifyMaskedPaths, KERNEL_DIRS } from "../../lib/mounts/masks.ts";
import { DEFAULT_MASKED_PATHS } from "../../lib/security/paths.ts";

Deno.test("masks: the kernel-path table covers the defaults and agrees with this kernel", () => {
  for (const path of DEFAULT_MASKED_PATHS) {
    assert.ok(KERNEL_DIRS.has(path), `${path} not in the table`);
  }
  let seen = 0;
  for (const [path, dir] of KERNEL_DIRS) {
    let isDir: boolean;
    try {
      isDir = Deno.statSync(path).isDirectory;
    } catch {
      continue; // not on this kernel: the child's resolution skips it
    }
    seen++;
    assert.equal(dir, isDir, `${path}: table says ${dir ? "directory" : "file"}`);
  }
  assert.ok(seen > 0, "no masked path exists on this host");
});

Deno.test("masks: table paths keep their kind unstat'ed, others are stat'ed or left to the child", () => {
  assert.deepEqual(
    classifyMaskedPaths(["/proc/kcore", "/sys/firmware/", "/proc/constructor", "/secret"]),
    [
      { path: "/proc/kcore", dir: false },
      { path: "/sys/firmware/", dir: true },
      { path: "/secret" },
    ],
  );
});
