// Crash-consistent container state: a state.json that cannot be read still
// shows in ps -a and rm -f removes the container and kills its processes;
// names cannot be taken twice even with names/ deleted; SIGKILL of `run -d`
// and `rm` at random delays leaves either nothing or a whole container.
import assert from "node:assert/strict";
import {
  containerCgroups,
  killAfter,
  mc,
  processesWith,
  rootOnly,
  sh,
  TEST_HOME,
  waitFor,
} from "./helpers.ts";

const STATE = `${TEST_HOME}/state`;

interface Listed {
  ID: string;
  Names: string;
  State: string;
  Status: string;
}

async function psAll(): Promise<Listed[]> {
  const ps = await mc(["ps", "-a", "--format", "json"]);
  assert.equal(ps.code, 0, ps.stderr);
  return ps.stdout.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

function idOf(name: string): string {
  return Deno.readTextFileSync(`${STATE}/names/${name}`).trim();
}

Deno.test({
  ...rootOnly("state: a garbled or truncated state.json is listed, and rm -f removes and kills it"),
  async fn() {
    for (
      const [what, damage] of [
        ["truncated", (text: string) => text.slice(0, 40)],
        ["garbled", (text: string) => text.replaceAll('"', "'")],
        ["emptied", () => ""],
      ] as const
    ) {
      const marker = `sleep 31.${what.length}${what.charCodeAt(0)}`;
      const started = await mc(["run", "-d", "--name", `broken-${what}`, ...marker.split(" ")]);
      assert.equal(started.code, 0, started.stderr);
      const id = started.stdout.trim();
      await waitFor(() => processesWith(marker).length === 1, 5000, "the container's process");
      const path = `${STATE}/${id}/state.json`;
      Deno.writeTextFileSync(path, damage(Deno.readTextFileSync(path)));

      const entry = (await psAll()).find((c) => c.ID === id.slice(0, 12));
      assert.ok(entry, `${what}: listed by ps -a`);
      assert.equal(entry.Names, `broken-${what}`);
      assert.equal(entry.Status, "unknown (state unreadable)");
      const taken = await mc(["run", "-d", "--name", `broken-${what}`, "true"]);
      assert.equal(taken.code, 125, `${what}: its name stays taken`);
      assert.match(taken.stderr, /already in use/);

      const refused = await mc(["rm", `broken-${what}`]);
      assert.equal(refused.code, 125);
      assert.match(refused.stderr, /its state cannot be read .* and it still runs; use rm -f/);
      const removed = await mc(["rm", "-f", `broken-${what}`]);
      assert.equal(removed.code, 0, removed.stderr);
      await waitFor(() => processesWith(marker).length === 0, 5000, "its process killed");
      assert.deepEqual(
        containerCgroups().filter((p) => p.endsWith(id)),
        [],
        `${what}: no cgroup left`,
      );
      assert.equal((await psAll()).some((c) => c.ID === id.slice(0, 12)), false);
      const reused = await mc(["run", "-d", "--rm", "--name", `broken-${what}`, "true"]);
      assert.equal(reused.code, 0, `${what}: the name is free again: ${reused.stderr}`);
    }
  },
});

Deno.test({
  ...rootOnly("state: deleting names/ does not let a second container take a name in use"),
  async fn() {
    const first = await mc(["run", "-d", "--name", "only-one", "sleep", "30"]);
    assert.equal(first.code, 0, first.stderr);
    Deno.removeSync(`${STATE}/names`, { recursive: true });
    const second = await mc(["run", "-d", "--name", "only-one", "sleep", "30"]);
    assert.equal(second.code, 125, "refused");
    assert.match(second.stderr, /the name is already in use by container/);
    assert.equal(idOf("only-one"), first.stdout.trim(), "the index was rebuilt");
    // The single entry gone, too: the name is still found through the container's own folder.
    Deno.removeSync(`${STATE}/names/only-one`);
    assert.equal((await mc(["run", "-d", "--name", "only-one", "true"])).code, 125);
    assert.equal((await mc(["rm", "-f", "only-one"])).code, 0);
    const after = await mc(["run", "-d", "--rm", "--name", "only-one", "true"]);
    assert.equal(after.code, 0, after.stderr);
  },
});

Deno.test({
  ...rootOnly(
    "state: SIGKILL of run -d and rm at random delays leaves nothing or a whole container",
  ),
  async fn() {
    const seed = Number(Deno.env.get("FAULT_SEED") ?? Math.floor(Math.random() * 1e9));
    console.log(`seed ${seed} (FAULT_SEED=${seed} replays it)`);
    let a = seed;
    const random = () => ((a = (a * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 8; i++) {
      const name = `kill-${i}`;
      await killAfter(
        ["run", "-d", "--name", name, "sleep", "30"],
        Math.round(100 + random() * 700),
      );
      let listed = (await psAll()).filter((c) => c.Names === name);
      assert.ok(listed.length <= 1);
      if (listed.length === 1) {
        assert.notEqual(listed[0].Status, "unknown (state unreadable)", "a whole container");
        await killAfter(["rm", "-f", name], Math.round(50 + random() * 400));
        listed = (await psAll()).filter((c) => c.Names === name);
        assert.ok(listed.length <= 1);
        if (listed.length === 1) {
          assert.notEqual(listed[0].Status, "unknown (state unreadable)", "still whole");
        }
      }
      // Either way the name can be had (again) once rm finishes the job.
      if (listed.length === 1) assert.equal((await mc(["rm", "-f", name])).code, 0);
      const reuse = await mc(["run", "-d", "--rm", "--name", name, "true"]);
      assert.equal(reuse.code, 0, `${name} is free: ${reuse.stderr}`);
    }
    // No folder but whole containers' (a --rm one may still be on its way out).
    await waitFor(
      () => [...Deno.readDirSync(STATE)].every((e) => !/^\.(new|rm)-/.test(e.name)),
      5000,
      "no half-made or half-removed folder after the commands that followed",
    );
  },
});

Deno.test({
  ...rootOnly("state: run -d on a full state directory fails in one sentence and leaks no cgroup"),
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "mc-full-" });
    await sh(`mount -t tmpfs -o size=64k tmpfs ${dir}`);
    try {
      let failures = 0;
      // Filled a little more each time, so that each step of the start meets a full disk.
      for (let fill = 6; fill <= 40; fill += 2) {
        await sh(`rm -rf ${dir}/*; mkdir ${dir}/state; head -c ${fill}k /dev/zero > ${dir}/fill`);
        const r = await mc(["--root", `${dir}/state`, "run", "-d", "sleep", "0.1"]);
        const id = /[0-9a-f]{64}/.exec(r.stdout + r.stderr)?.[0];
        if (r.code === 0) {
          await waitFor(() => containerCgroups().every((p) => !p.endsWith(id!)), 5000);
          continue;
        }
        failures++;
        assert.equal(r.code, 125);
        assert.match(r.stderr, /^minicontainer: .*No space left on device\n$/, r.stderr);
        if (id) {
          assert.deepEqual(containerCgroups().filter((p) => p.endsWith(id)), [], `fill ${fill}k`);
        }
        const left = [...Deno.readDirSync(`${dir}/state`)].map((e) => e.name)
          .filter((n) => !["names", "owners"].includes(n));
        assert.deepEqual(left, [], `fill ${fill}k: no container folder`);
      }
      assert.ok(failures > 5, "the disk was full for most starts");
    } finally {
      await sh(`umount ${dir} && rmdir ${dir}`);
    }
  },
});
