/**
 * Mount options as data: what each of runc's options parses to, the plan
 * ops a bind or a file-system mount with recursive attributes or an idmap
 * becomes, the one-sentence refusals, and features.json's list.
 * @module
 */

import assert from "node:assert/strict";
import type { Op } from "../../ffi/plan.ts";
import { K, MOUNT_ATTR, MOUNT_ATTR_SIZE, MS } from "../../ffi/syscalls.ts";
import { Fragment } from "../../lib/mounts/in_root.ts";
import { KNOWN_MOUNT_OPTIONS, mountAttr, parseMountOptions } from "../../lib/mounts/options.ts";
import { mountOps } from "../../lib/mounts/plan.ts";
import { type PreparedMount, prepareMounts } from "../../lib/mounts/prepare.ts";
import { loadBundle } from "../../lib/oci/bundle.ts";
import { defaultConfig, features } from "../../lib/oci/features.ts";
import type { Mount, Spec } from "../../lib/spec.ts";

const A = MOUNT_ATTR;

/** The ops of one mount, below a root fd pushed first (op 0). */
function opsOf(m: PreparedMount): Op[] {
  const f = new Fragment();
  const root = f.push({ call: "openat", args: [K.AT_FDCWD, "/r", 0], label: "open root" });
  mountOps(f, root, m);
  return f.ops;
}

function prepared(options: string[], extra: Partial<PreparedMount> = {}): PreparedMount {
  return {
    ...parseMountOptions(options),
    destination: "/mnt",
    inRoot: "mnt",
    source: "/src",
    type: null,
    fileTarget: false,
    ...extra,
  };
}

const attrBytes = (set: number, clear: number, fd = 0) => mountAttr(set, clear, fd);

Deno.test("mount options: each recursive option is its mount_setattr bits; a later one wins", () => {
  const rec = (o: string[]) => {
    const r = parseMountOptions(o).recursive;
    return r && { set: r.set, clear: r.clear };
  };
  assert.deepEqual(rec(["rro"]), { set: A.RDONLY, clear: 0 });
  assert.deepEqual(rec(["rro", "rrw"]), { set: 0, clear: A.RDONLY });
  assert.deepEqual(rec(["rnosuid", "rnodev", "rnoexec"]), {
    set: A.NOSUID | A.NODEV | A.NOEXEC,
    clear: 0,
  });
  assert.deepEqual(rec(["rexec", "rdev", "rsuid"]), {
    set: 0,
    clear: A.NOEXEC | A.NODEV | A.NOSUID,
  });
  assert.deepEqual(rec(["rnosymfollow"]), { set: A.NOSYMFOLLOW, clear: 0 });
  assert.deepEqual(rec(["rnodiratime", "rdiratime"]), { set: 0, clear: A.NODIRATIME });
  // The atime mode is an enum: each option clears the whole field and sets its value.
  assert.deepEqual(rec(["rnoatime"]), { set: A.NOATIME, clear: A._ATIME });
  assert.deepEqual(rec(["rstrictatime"]), { set: A.STRICTATIME, clear: A._ATIME });
  assert.deepEqual(rec(["rnoatime", "rrelatime"]), { set: A.RELATIME, clear: A._ATIME });
  assert.deepEqual(rec(["rstrictatime", "ratime"]), { set: A.RELATIME, clear: A._ATIME });
  assert.deepEqual(rec(["rnorelatime"]), { set: A.STRICTATIME, clear: A._ATIME });
  assert.deepEqual(rec(["rnoatime", "rro"]), { set: A.NOATIME | A.RDONLY, clear: A._ATIME });
  assert.equal(rec(["ro", "rbind"]), undefined);
  // None of them is file-system data any more.
  assert.equal(parseMountOptions(["rro", "rnoexec", "ratime", "ridmap"]).data, null);
  assert.equal(parseMountOptions(["idmap"]).idmap, "idmap");
  assert.equal(parseMountOptions(["ridmap"]).idmap, "ridmap");
});

Deno.test("mount options: nosymfollow and runc's other flags are mount(2) flags, not data", () => {
  const p = parseMountOptions(["nosymfollow", "lazytime", "iversion", "silent", "nodiratime"]);
  assert.equal(p.data, null);
  assert.equal(p.flags, MS.NOSYMFOLLOW | MS.LAZYTIME | MS.I_VERSION | MS.SILENT | MS.NODIRATIME);
  assert.equal(
    parseMountOptions(["nosymfollow", "symfollow", "diratime", "nolazytime"]).flags,
    0,
  );
  assert.equal(parseMountOptions(["mode=755", "bogus"]).data, "mode=755,bogus");
});

Deno.test("plan: a bind's recursive attributes are one mount_setattr on its tree, after the remount", () => {
  const ops = opsOf(prepared(["rbind", "nosuid", "rro", "rnoexec", "rprivate"]));
  const calls = ops.map((o) => o.call);
  assert.deepEqual(calls, [
    "openat",
    "open_in_root",
    "open_tree",
    "move_mount",
    "fd_path",
    "mount",
    "mount_setattr",
    "mount",
  ]);
  assert.equal(ops[2].args[2], K.OPEN_TREE_CLONE | K.O_CLOEXEC | K.AT_RECURSIVE);
  assert.equal(ops[5].args[3], MS.BIND | MS.REMOUNT | MS.NOSUID);
  const setattr = ops[6];
  // On the open_tree's fd (4 ops back), the whole tree.
  assert.deepEqual(setattr.args, [
    { back: 4 },
    "",
    K.AT_EMPTY_PATH | K.AT_RECURSIVE,
    attrBytes(A.RDONLY | A.NOEXEC, 0),
    MOUNT_ATTR_SIZE,
  ]);
  // The words of the error on a kernel without the call.
  assert.match(setattr.label, /apply rro,rnoexec to \/mnt .*Linux 5\.12 or later/);
  assert.equal(ops[7].args[3], MS.PRIVATE | MS.REC);
});

Deno.test("plan: a bind with only a recursive option still names its fd for mount_setattr", () => {
  const ops = opsOf(prepared(["bind", "rnosymfollow"]));
  assert.deepEqual(ops.map((o) => o.call), [
    "openat",
    "open_in_root",
    "open_tree",
    "move_mount",
    "fd_path",
    "mount_setattr",
  ]);
  // bind, not rbind: only the top mount is copied, AT_RECURSIVE reaches what is there.
  assert.equal(ops[2].args[2], K.OPEN_TREE_CLONE | K.O_CLOEXEC);
  assert.deepEqual(ops[5].args[3], attrBytes(A.NOSYMFOLLOW, 0));
});

Deno.test("plan: a file-system mount's recursive attributes act on the mount, looked up again", () => {
  const ops = opsOf(
    prepared(["rnodev", "size=1m"], { type: "tmpfs", source: "tmpfs", bind: false }),
  );
  assert.deepEqual(ops.map((o) => o.call), [
    "openat",
    "open_in_root",
    "mount",
    "open_in_root",
    "mount_setattr",
  ]);
  assert.equal(ops[2].label, "mount tmpfs on /mnt with file-system options size=1m");
  assert.deepEqual(ops[4].args, [
    { back: 1 },
    "",
    K.AT_EMPTY_PATH | K.AT_RECURSIVE,
    attrBytes(A.NODEV, 0),
    MOUNT_ATTR_SIZE,
  ]);
});

Deno.test("plan: an idmapped bind moves the runtime's tree fd in place, no open_tree", () => {
  const ops = opsOf(prepared(["rbind", "idmap", "ro"], { treeFd: 57 }));
  assert.deepEqual(ops.map((o) => o.call), [
    "openat",
    "open_in_root",
    "move_mount",
    "fd_path",
    "mount",
  ]);
  assert.deepEqual(ops[2].args, [
    57,
    "",
    { back: 1 },
    "",
    K.MOVE_MOUNT_F_EMPTY_PATH | K.MOVE_MOUNT_T_EMPTY_PATH,
  ]);
  assert.equal(ops[3].args[1], 57);
  assert.equal(ops[4].args[3], MS.BIND | MS.REMOUNT | MS.RDONLY);
});

Deno.test("mounts: an option a mount cannot take is one sentence, nothing made", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const bind = (options: string[], more: Partial<Mount> = {}): Mount[] => [
      { destination: "/mnt", source: dir, options, ...more },
    ];
    assert.throws(
      () => prepareMounts(bind(["rbind", "bogus"])),
      /^ContainerError: mount \/mnt: unknown option bogus \(a bind mount takes no file-system options\)$/,
    );
    assert.throws(
      () => prepareMounts([{ destination: "/mnt", type: "tmpfs", options: ["idmap"] }]),
      /mount \/mnt: option idmap needs a bind mount/,
    );
    assert.throws(
      () => prepareMounts(bind(["rbind", "ridmap"])),
      /option ridmap needs uidMappings and gidMappings on the mount or a user namespace with maps/,
    );
    assert.throws(
      () =>
        prepareMounts(
          bind(["rbind", "idmap"], { uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }),
        ),
      /option idmap needs both uidMappings and gidMappings on the mount/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("oci bundle: a mount's uidMappings are checked field by field", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/rootfs`);
    const write = (edit: (c: Spec) => void) => {
      const c = defaultConfig();
      c.process.terminal = false;
      edit(c);
      Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(c));
    };
    write((c) =>
      c.mounts.push({
        destination: "/mnt",
        source: "/tmp",
        options: ["rbind", "idmap"],
        uidMappings: [{ containerID: 0, hostID: -1, size: 1 }],
      })
    );
    assert.throws(
      () => loadBundle(dir, () => {}),
      /mounts\[\d+\]\.uidMappings\[0\]\.hostID: -1 is not an unsigned 32-bit integer/,
    );
    write((c) =>
      c.mounts.push({
        destination: "/mnt",
        source: "/tmp",
        options: ["rbind"],
        gidMappings: [{ containerID: 0, hostID: 1, size: 0 }],
      })
    );
    assert.throws(() => loadBundle(dir, () => {}), /gidMappings\[0\]\.size: must be at least 1/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("oci features: mountOptions is exactly what is accepted, none of it data", () => {
  const f = features() as { mountOptions: string[]; linux: Record<string, unknown> };
  for (
    const o of [
      "rro",
      "rrw",
      "rnosuid",
      "rsuid",
      "rnodev",
      "rdev",
      "rnoexec",
      "rexec",
      "rnodiratime",
      "rdiratime",
      "rrelatime",
      "rnorelatime",
      "rnoatime",
      "ratime",
      "rstrictatime",
      "rnostrictatime",
      "rnosymfollow",
      "rsymfollow",
      "nosymfollow",
      "symfollow",
      "tmpcopyup",
    ]
  ) assert.ok(f.mountOptions.includes(o), o);
  for (const o of KNOWN_MOUNT_OPTIONS) assert.equal(parseMountOptions([o]).data, null, o);
  assert.ok(!f.mountOptions.includes("idmap"), "idmap is told by mountExtensions");
  const idmap = (f.linux.mountExtensions as { idmap: { enabled: boolean } }).idmap.enabled;
  const [major, minor] = Deno.osRelease().split(".").map(Number);
  assert.equal(idmap, Deno.uid() === 0 && (major > 5 || (major === 5 && minor >= 12)));
});
