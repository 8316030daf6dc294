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

Deno.test("elf: a truncated file is refused, not misread", () => {
  const dir = Deno.makeTempDirSync();
  try {
    // A genuine header whose program headers lie past the end of the file.
    Deno.writeFileSync(`${dir}/short`, Deno.readFileSync("/bin/ls").subarray(0, 80));
    assert.throws(
      () => readElfDeps(`${dir}/short`),
      (e) => e instanceof ContainerError && /short: truncated or corrupt ELF file$/.test(e.message),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("elf: 32-bit and big-endian ELF are refused by name", () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const [cls, data] of [[1, 1], [2, 2]]) {
      const bytes = Deno.readFileSync("/bin/ls").slice(0, 4096);
      bytes[4] = cls;
      bytes[5] = data;
      Deno.writeFileSync(`${dir}/elf`, bytes);
      assert.throws(
        () => readElfDeps(`${dir}/elf`),
        (e) => e instanceof ContainerError && /only 64-bit little-endian ELF/.test(e.message),
      );
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const HAS_CC = (() => {
  try {
    return new Deno.Command("cc", { args: ["--version"], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "elf: $ORIGIN run paths are followed, transitively",
  ignore: !HAS_CC,
  fn() {
    const dir = Deno.makeTempDirSync();
    const cc = (...args: string[]) => {
      const out = new Deno.Command("cc", { args, cwd: dir, stderr: "piped" }).outputSync();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    };
    try {
      Deno.mkdirSync(`${dir}/lib`);
      Deno.writeTextFileSync(`${dir}/dep.c`, "int dep(void) { return 1; }\n");
      Deno.writeTextFileSync(`${dir}/top.c`, "int dep(void); int top(void) { return dep(); }\n");
      Deno.writeTextFileSync(`${dir}/prog.c`, "int top(void); int main(void) { return top(); }\n");
      cc("-shared", "-fPIC", "-o", "lib/libdep.so", "dep.c");
      cc(
        "-shared",
        "-fPIC",
        "-o",
        "lib/libtop.so",
        "top.c",
        "-Llib",
        "-ldep",
        "-Wl,-rpath,$ORIGIN",
      );
      cc(
        "-o",
        "prog",
        "prog.c",
        "-Llib",
        "-ltop",
        "-Wl,-rpath,${ORIGIN}/lib",
        "-Wl,--enable-new-dtags",
      );
      const deps = readElfDeps(`${dir}/prog`);
      assert.deepEqual(deps.runpath, ["${ORIGIN}/lib"]);
      assert.ok(deps.needed.includes("libtop.so"), deps.needed.join(","));
      const libs = resolveSharedLibraries([`${dir}/prog`]);
      assert.ok(libs.includes(`${dir}/lib/libtop.so`), libs.join(","));
      assert.ok(libs.includes(`${dir}/lib/libdep.so`), libs.join(","));
      assert.ok(libs.includes(deps.interpreter!), libs.join(","));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "elf: a library that cannot be found is named in the error",
  ignore: !HAS_CC,
  fn() {
    const dir = Deno.makeTempDirSync();
    const cc = (...args: string[]) =>
      assert.ok(new Deno.Command("cc", { args, cwd: dir }).outputSync().success);
    try {
      Deno.writeTextFileSync(`${dir}/gone.c`, "int gone(void) { return 1; }\n");
      Deno.writeTextFileSync(
        `${dir}/prog.c`,
        "int gone(void); int main(void) { return gone(); }\n",
      );
      cc("-shared", "-fPIC", "-o", "libgone.so", "gone.c");
      cc("-o", "prog", "prog.c", "-L.", "-lgone");
      Deno.removeSync(`${dir}/libgone.so`);
      assert.throws(
        () => resolveSharedLibraries([`${dir}/prog`]),
        (e) =>
          e instanceof ContainerError &&
          e.message.startsWith(`find library libgone.so: needed by ${dir}/prog, not found in `),
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
