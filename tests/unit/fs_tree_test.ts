import assert from "node:assert/strict";
import { closeFd } from "../../ffi/libc.ts";
import {
  openListedFile,
  openRoot,
  readListedLink,
  S_IFMT,
  S_IFREG,
  type TreeEntry,
  walkTree,
} from "../../lib/fs/tree.ts";

/** A tree inside a temporary directory, and a secret beside it (outside the tree). */
function fixture(): { root: string; secret: string; cleanup: () => void } {
  const base = Deno.makeTempDirSync({ prefix: "mc-fs-tree-" });
  const root = `${base}/root`;
  const secret = `${base}/secret`;
  Deno.mkdirSync(`${root}/d`, { recursive: true });
  Deno.writeTextFileSync(`${root}/d/file`, "inside\n");
  Deno.writeTextFileSync(`${root}/f`, "plain\n");
  Deno.mkdirSync(secret);
  Deno.writeTextFileSync(`${secret}/host-only`, "secret\n");
  Deno.symlinkSync(secret, `${root}/abs`);
  Deno.symlinkSync("../secret", `${root}/rel`);
  return { root, secret, cleanup: () => Deno.removeSync(base, { recursive: true }) };
}

async function collect(
  root: string,
  onEntry: (e: TreeEntry) => void = () => {},
): Promise<Map<string, TreeEntry>> {
  const seen = new Map<string, TreeEntry>();
  const fd = openRoot(root);
  try {
    await walkTree(fd, (e) => {
      seen.set(e.path, e);
      onEntry(e);
      return Promise.resolve(true);
    });
  } finally {
    closeFd(fd);
  }
  return seen;
}

Deno.test("fs tree: entries in sorted order, symlinks listed with their targets, never followed", async () => {
  const { root, secret, cleanup } = fixture();
  try {
    const targets = new Map<string, string | undefined>();
    const seen = await collect(root, (e) => {
      if (e.name === "abs" || e.name === "rel") targets.set(e.name, readListedLink(e));
    });
    assert.deepEqual([...seen.keys()], ["abs", "d", "d/file", "f", "rel"]);
    assert.deepEqual(Object.fromEntries(targets), { abs: secret, rel: "../secret" });
    assert.equal(seen.get("f")!.stat.mode & S_IFMT, S_IFREG);
    assert.equal(seen.get("f")!.stat.size, 6);
  } finally {
    cleanup();
  }
});

Deno.test("fs tree: a file swapped for a symlink or a fifo after the listing is not opened", async () => {
  const { root, secret, cleanup } = fixture();
  try {
    const seen = await collect(root);
    const f = seen.get("f")!;
    // Same name, now an absolute symlink to a host file.
    Deno.removeSync(`${root}/f`);
    Deno.symlinkSync(`${secret}/host-only`, `${root}/f`);
    const fd = openRoot(root);
    try {
      assert.equal(openListedFile({ ...f, parentFd: fd }), undefined);
      // A fifo: opening it for reading would block; it is never opened.
      Deno.removeSync(`${root}/f`);
      await new Deno.Command("mkfifo", { args: [`${root}/f`] }).output();
      assert.equal(openListedFile({ ...f, parentFd: fd }), undefined);
      // Another regular file under the same name (made while the listed one
      // still exists, so its inode number differs): not the one listed either.
      Deno.writeTextFileSync(`${root}/other`, "other\n");
      Deno.renameSync(`${root}/other`, `${root}/f`);
      const listedOther = { ...f, stat: { ...f.stat, id: `${f.stat.id}-not` }, parentFd: fd };
      assert.equal(openListedFile(listedOther), undefined);
      // The listed file itself opens, with the bytes it holds.
      const d = seen.get("d/file")!;
      const dirFd = openRoot(`${root}/d`);
      try {
        const opened = openListedFile({ ...d, parentFd: dirFd })!;
        const bytes = new Uint8Array(64);
        const n = opened.file.readSync(bytes);
        opened.file.close();
        assert.equal(new TextDecoder().decode(bytes.subarray(0, n!)), "inside\n");
      } finally {
        closeFd(dirFd);
      }
    } finally {
      closeFd(fd);
    }
  } finally {
    cleanup();
  }
});

Deno.test("fs tree: a directory swapped for a symlink to the host before it is entered is not entered", async () => {
  const { root, secret, cleanup } = fixture();
  try {
    const seen = await collect(root, (e) => {
      if (e.path === "d") {
        // Between the listing's stat and the descent.
        Deno.renameSync(`${root}/d`, `${root}/d.moved`);
        Deno.symlinkSync(secret, `${root}/d`);
      }
    });
    assert.ok(!seen.has("d/host-only"), [...seen.keys()].join(" "));
    assert.ok(![...seen.keys()].some((k) => k.includes("host-only")));
  } finally {
    cleanup();
  }
});
