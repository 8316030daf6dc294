import assert from "node:assert/strict";
import { ContainerError } from "../../lib/errors.ts";
import { resolveUser } from "../../lib/security/users.ts";

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:100::/home/bob:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const GROUP = `root:x:0:
wheel:x:10:root,alice
users:x:100:
alice:x:1000:
audio:x:29:alice, bob
docker:x:999:bob
nogroup:x:65534:
`;

function withRootfs(fn: (root: string) => void) {
  const root = Deno.makeTempDirSync({ prefix: "mc-users-" });
  try {
    Deno.mkdirSync(`${root}/etc`);
    Deno.writeTextFileSync(`${root}/etc/passwd`, PASSWD);
    Deno.writeTextFileSync(`${root}/etc/group`, GROUP);
    fn(root);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

Deno.test("users: a name gets its uid, gid, home and the groups listing it", () => {
  withRootfs((root) => {
    assert.deepEqual(resolveUser(root, "alice", []), {
      uid: 1000,
      gid: 1000,
      additionalGids: [10, 29],
      home: "/home/alice",
    });
    assert.deepEqual(resolveUser(root, "bob"), {
      uid: 1001,
      gid: 100,
      additionalGids: [29, 999],
      home: "/home/bob",
    });
  });
});

Deno.test("users: empty means root, with root's groups; a known uid is looked up", () => {
  withRootfs((root) => {
    assert.deepEqual(resolveUser(root, ""), {
      uid: 0,
      gid: 0,
      additionalGids: [10],
      home: "/root",
    });
    assert.deepEqual(resolveUser(root, "1000").additionalGids, [10, 29]);
    assert.equal(resolveUser(root, "1000").gid, 1000);
  });
});

Deno.test("users: numeric ids need no entry, like docker", () => {
  withRootfs((root) => {
    assert.deepEqual(resolveUser(root, "4242"), { uid: 4242, gid: 0, additionalGids: [] });
    assert.deepEqual(resolveUser(root, "4242:4343"), { uid: 4242, gid: 4343, additionalGids: [] });
    assert.deepEqual(resolveUser(root, "1000:1000"), {
      uid: 1000,
      gid: 1000,
      additionalGids: [],
      home: "/home/alice",
    });
  });
  // No /etc at all.
  const empty = Deno.makeTempDirSync();
  try {
    assert.deepEqual(resolveUser(empty, "7:8", ["9"]), { uid: 7, gid: 8, additionalGids: [9] });
    assert.throws(() => resolveUser(empty, "alice"), ContainerError);
  } finally {
    Deno.removeSync(empty, { recursive: true });
  }
});

Deno.test("users: an explicit group replaces the primary and drops the supplementary ones", () => {
  withRootfs((root) => {
    assert.deepEqual(resolveUser(root, "alice:users"), {
      uid: 1000,
      gid: 100,
      additionalGids: [],
      home: "/home/alice",
    });
    assert.equal(resolveUser(root, "alice:29").gid, 29);
  });
});

Deno.test("users: --group-add by name or number, without duplicates", () => {
  withRootfs((root) => {
    assert.deepEqual(resolveUser(root, "alice", ["docker", "5555", "wheel"]).additionalGids, [
      10,
      29,
      999,
      5555,
    ]);
    assert.deepEqual(resolveUser(root, "1:1", ["audio"]).additionalGids, [29]);
  });
});

Deno.test("users: unknown names and bad ids are one sentence, exit 125", () => {
  withRootfs((root) => {
    const bad = (user: string, groups: string[], message: RegExp) =>
      assert.throws(() => resolveUser(root, user, groups), (e: unknown) => {
        assert.ok(e instanceof ContainerError);
        assert.equal(e.exitCode, 125);
        assert.match(e.message, message);
        return true;
      });
    bad("mallory", [], /^resolve user .*\/etc\/passwd: no user named "mallory"$/);
    bad("alice:staff", [], /^resolve user .*\/etc\/group: no group named "staff"$/);
    bad("alice", ["staff"], /no group named "staff"/);
    bad("alice:", [], /the group after : is empty/);
    bad("99999999999", [], /ids go from 0 to 2147483647/);
    // Past 2^31-1 (runc's bound), past 2^32 (would wrap to a small id), negative, float.
    for (const id of ["2147483648", "4294967296", "4294967297", "18446744073709551616"]) {
      bad(id, [], /ids go from 0 to 2147483647/);
      bad(`0:${id}`, [], /ids go from 0 to 2147483647/);
      bad("0", [id], /ids go from 0 to 2147483647/);
    }
    bad("-1", [], /no user named "-1"/);
    bad("1.5", [], /no user named "1.5"/);
    bad("0:1e3", [], /no group named "1e3"/);
    assert.equal(resolveUser(root, "2147483647").uid, 2147483647);
  });
});

Deno.test("users: a passwd symlinked out of the rootfs is not read", () => {
  const root = Deno.makeTempDirSync({ prefix: "mc-users-" });
  const outside = Deno.makeTempDirSync({ prefix: "mc-host-" });
  try {
    Deno.mkdirSync(`${root}/etc`);
    Deno.writeTextFileSync(`${outside}/passwd`, "secret:x:4321:4321::/:/bin/sh\n");
    Deno.symlinkSync(`${outside}/passwd`, `${root}/etc/passwd`);
    assert.throws(() => resolveUser(root, "secret"), /no user named "secret"/);
    // A link that stays inside the rootfs is fine.
    Deno.removeSync(`${root}/etc/passwd`);
    Deno.writeTextFileSync(`${root}/etc/passwd.real`, "carol:x:5:6::/c:/bin/sh\n");
    Deno.symlinkSync("passwd.real", `${root}/etc/passwd`);
    assert.equal(resolveUser(root, "carol").uid, 5);
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(outside, { recursive: true });
  }
});
