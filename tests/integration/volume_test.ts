// Named volumes against real containers: they persist between containers,
// rm refuses one a container uses, --mount's three types.
import assert from "node:assert/strict";
import { withStateRoot } from "./helpers.ts";

const vol = () => `vt${crypto.randomUUID().slice(0, 8)}`;

withStateRoot(
  "volumes: data persists between containers; rm refuses one in use; prune",
  async (m) => {
    const name = vol();
    const other = vol();
    try {
      assert.equal((await m(["volume", "create", name])).stdout, `${name}\n`);
      // --rm: a foreground container is kept once exited (docker's rule), and would pin the volume.
      const w = await m([
        "run",
        "--rm",
        "-v",
        `${name}:/data`,
        "sh",
        "-c",
        "echo persisted > /data/f",
      ]);
      assert.equal(w.code, 0, w.stderr);
      const r = await m([
        "run",
        "--rm",
        "--mount",
        `type=volume,source=${name},target=/d,readonly`,
        "sh",
        "-c",
        "cat /d/f; touch /d/g",
      ]);
      assert.equal(r.stdout, "persisted\n");
      assert.notEqual(r.code, 0, "a readonly volume was written");
      assert.match((await m(["volume", "ls"])).stdout, new RegExp(`^local\\s+${name}$`, "m"));
      // -v with a new name makes the volume; a container using it pins it.
      const id = (await m(["run", "-d", "-v", `${other}:/x`, "sleep", "1000"])).stdout.trim();
      const [info] = JSON.parse((await m(["volume", "inspect", other])).stdout);
      assert.equal(info.Name, other);
      const mounts = JSON.parse((await m(["inspect", "-f", "{{json .Mounts}}", id])).stdout);
      assert.deepEqual(mounts.map((x: { Type: string; Name: string }) => [x.Type, x.Name]), [[
        "volume",
        other,
      ]]);
      const busy = await m(["volume", "rm", other]);
      assert.equal(busy.code, 125);
      assert.match(busy.stderr, /in use by container/);
      assert.ok(Deno.statSync(info.Mountpoint).isDirectory, "refused, yet removed");
      // Still in use once exited: prune keeps it, removes the unused one.
      assert.equal((await m(["stop", "-t", "0", id])).code, 0);
      const pruned = await m(["volume", "prune", "-f"]);
      assert.match(pruned.stdout, new RegExp(`^${name}$`, "m"));
      assert.doesNotMatch(pruned.stdout, new RegExp(other));
      assert.equal((await m(["rm", id])).code, 0);
      assert.equal((await m(["volume", "rm", other])).code, 0);
      assert.throws(() => Deno.statSync(info.Mountpoint), Deno.errors.NotFound);
    } finally {
      await m(["volume", "rm", "-f", name, other]);
    }
  },
);

withStateRoot(
  "volumes and --mount: bad input is one sentence, exit 125, nothing made",
  async (m) => {
    const cases: [string[], RegExp][] = [
      [["volume", "inspect", "nosuch-vol"], /no such volume/],
      [["volume", "rm", "nosuch-vol"], /no such volume/],
      [["volume", "create", "bad name"], /names take letters/],
      [["run", "-v", "bad name:/x", "true"], /names take letters/],
      [["run", "--mount", "type=bogus,target=/t", "true"], /type must be/],
      [["run", "--mount", "type=bind,source=rel,target=/t", "true"], /absolute host path/],
      [["run", "--mount", "type=volume,source=x", "true"], /target= is required/],
      [["run", "--mount", "type=tmpfs,target=/t,color=red", "true"], /unknown key/],
      [["volume", "frob"], /unknown volume command/],
    ];
    const before = (await m(["volume", "ls", "-q"])).stdout;
    for (const [args, why] of cases) {
      const r = await m(args);
      assert.equal(r.code, 125, args.join(" "));
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
    assert.equal((await m(["volume", "ls", "-q"])).stdout, before);
    const t = await m([
      "run",
      "--mount",
      "type=tmpfs,target=/t,tmpfs-size=1m",
      "sh",
      "-c",
      "df -k /t | tail -1",
    ]);
    assert.match(t.stdout, /\s1024\s/);
  },
);
