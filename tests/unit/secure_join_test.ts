import assert from "node:assert/strict";
import { secureJoin } from "../../lib/mounts/secure_join.ts";

Deno.test("secureJoin: symlinks resolve inside the root, .. never leaves it", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/real/dir`, { recursive: true });
    Deno.symlinkSync("/etc", `${root}/abs`);
    Deno.symlinkSync("../../../../..", `${root}/up`);
    Deno.symlinkSync("real/dir", `${root}/rel`);
    Deno.symlinkSync("loop", `${root}/loop`);
    assert.equal(secureJoin(root, "/abs/passwd"), `${root}/etc/passwd`);
    assert.equal(secureJoin(root, "/up/etc"), `${root}/etc`);
    assert.equal(secureJoin(root, "/../../etc"), `${root}/etc`);
    assert.equal(secureJoin(root, "/rel/x"), `${root}/real/dir/x`);
    assert.equal(secureJoin(root, "/"), root);
    assert.ok(secureJoin(root, "/loop/x").startsWith(root));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
