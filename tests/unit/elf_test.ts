import assert from "node:assert/strict";
import { readElfDeps, resolveSharedLibraries } from "../../lib/rootfs/elf.ts";
import { ContainerError } from "../../lib/errors.ts";

Deno.test("elf: a dynamic program names its interpreter and libc", () => {
  const deps = readElfDeps("/bin/ls");
  assert.equal(deps.isStatic, false);
  assert.match(deps.interpreter ?? "", /^\/lib.*\/ld-linux.*\.so\.\d$/);
  assert.ok(deps.needed.includes("libc.so.6"), deps.needed.join(","));
});

Deno.test("elf: libraries resolve transitively to existing host files", () => {
  const libs = resolveSharedLibraries(["/bin/ls"]);
  const libc = libs.find((l) => l.endsWith("/libc.so.6"));
  assert.ok(libc, libs.join(","));
  Deno.statSync(libc);
  for (const l of libs) Deno.statSync(l);
  assert.equal(new Set(libs).size, libs.length, "no duplicates");
});

Deno.test({
  name: "elf: Debian's busybox-static has no interpreter",
  ignore: (() => {
    try {
      Deno.statSync("/bin/busybox");
      return false;
    } catch {
      return true;
    }
  })(),
  fn() {
    assert.equal(readElfDeps("/bin/busybox").isStatic, true);
  },
});

Deno.test("elf: a file that is not ELF is refused with its name", () => {
  assert.throws(
    () => readElfDeps("/etc/passwd"),
    (e) => e instanceof ContainerError && /read ELF \/etc\/passwd: not an ELF file/.test(e.message),
  );
});
