// system prune: asks on a terminal, refuses without one (and without -f),
// removes stopped containers and keeps running ones, reclaims what a killed
// run left (its cgroups, found through its journal entry) and reports space.
import assert from "node:assert/strict";
import {
  containerCgroups,
  LAUNCHER,
  mc,
  processesWith,
  rootOnly,
  sh,
  TEST_HOME,
  waitFor,
} from "./helpers.ts";

const STATE = `${TEST_HOME}/state`;

/** Runs `minicontainer ARGS` on a pty (script(1)), typing `answer`. */
async function onTerminal(args: string[], answer: string): Promise<string> {
  const out = await new Deno.Command("script", {
    args: ["-qec", [LAUNCHER, ...args].join(" "), "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = out.stdin.getWriter();
  await w.write(new TextEncoder().encode(answer));
  await w.close();
  const done = await out.output();
  return new TextDecoder().decode(done.stdout);
}

Deno.test({
  ...rootOnly(
    "system prune: confirmation, stopped containers and a killed run's cgroups go, running ones stay",
  ),
  async fn() {
    const stopped = (await mc(["run", "-d", "--name", "prune-stopped", "true"])).stdout.trim();
    const running = (await mc(["run", "-d", "--name", "prune-running", "sleep", "30"])).stdout
      .trim();
    assert.match(stopped, /^[0-9a-f]{64}$/);
    await waitFor(() => {
      try {
        return JSON.parse(Deno.readTextFileSync(`${STATE}/${stopped}/state.json`)).status ===
          "exited";
      } catch {
        return false;
      }
    });

    const refused = await mc(["system", "prune"]);
    assert.equal(refused.code, 125);
    assert.equal(
      refused.stderr.trim(),
      "minicontainer: usage: system prune asks for confirmation and stdin is not a terminal: use -f",
    );
    const no = await onTerminal(["system", "prune"], "n\n");
    assert.match(
      no,
      /WARNING! This will remove:[\s\S]*Are you sure you want to continue\? \[y\/N\]/,
    );
    assert.ok(Deno.statSync(`${STATE}/${stopped}`).isDirectory, "N keeps everything");

    // A foreground run killed: its cgroups stay until reclaimed through its journal entry.
    const child = new Deno.Command(LAUNCHER, {
      args: ["run", "--rm", "sleep", "29.5"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(() => processesWith("sleep 29.5").length === 1, 10_000, "the container");
    const claim = [...Deno.readDirSync(`${STATE}/owners`)].map((e) => e.name).find((n) =>
      !n.startsWith(running)
    )!;
    const killedId = claim.slice(0, 64);
    child.kill("SIGKILL");
    await child.status;
    await waitFor(() => processesWith("sleep 29.5").length === 0, 5000, "PDEATHSIG");
    assert.ok(containerCgroups().some((p) => p.endsWith(killedId)), "the kill left cgroups");

    const yes = await onTerminal(["system", "prune"], "y\n");
    // The killed run's container (its state kept, docker's model) goes too.
    assert.match(yes, new RegExp(`Deleted Containers:[\\s\\S]*${stopped}`));
    assert.match(yes, new RegExp(`minicontainer-${killedId}`));
    assert.match(yes, /Total reclaimed space: \d/);
    assert.deepEqual(containerCgroups().filter((p) => p.endsWith(killedId)), []);
    assert.throws(() => Deno.statSync(`${STATE}/${stopped}`), Deno.errors.NotFound);
    assert.ok(Deno.statSync(`${STATE}/${running}`).isDirectory, "a running container stays");

    const again = await mc(["system", "prune", "-f"]);
    assert.equal(again.code, 0);
    assert.equal(again.stdout.trim(), "Total reclaimed space: 0B");
    assert.equal((await mc(["rm", "-f", running])).code, 0);
  },
});

Deno.test({
  ...rootOnly("rmi after a killed run IMAGE: the dead container's root no longer pins the layers"),
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "mc-pin-" });
    const cgroupsBefore = new Set(containerCgroups());
    try {
      assert.equal((await mc(["run", "--rm", "/bin/true"])).code, 0); // the default rootfs, to import
      await sh(`tar -C ${TEST_HOME}/data/rootfs/default -cf ${work}/root.tar .`);
      assert.equal((await mc(["import", `${work}/root.tar`, "pinned:1"])).code, 0);
      const containers = `${TEST_HOME}/data/containers`;
      Deno.mkdirSync(containers, { recursive: true });
      const before = new Set(Deno.readDirSync(containers).map((e) => e.name));
      const child = new Deno.Command(LAUNCHER, {
        args: ["run", "--rm", "pinned:1", "sleep", "28.5"],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitFor(() => processesWith("sleep 28.5").length === 1, 10_000, "the container");
      child.kill("SIGKILL");
      await child.status;
      await waitFor(() => processesWith("sleep 28.5").length === 0, 5000, "PDEATHSIG");
      const left = [...Deno.readDirSync(containers)].map((e) => e.name).filter((n) =>
        !before.has(n)
      );
      assert.equal(left.length, 1, "the kill left the container's root");

      const rmi = await mc(["rmi", "pinned:1"]);
      assert.equal(rmi.code, 0, rmi.stderr);
      assert.match(rmi.stdout, /Untagged: pinned:1 \(1 layer deleted\)/);
      assert.deepEqual(
        [...Deno.readDirSync(containers)].map((e) => e.name).filter((n) => !before.has(n)),
        [],
        "the dead root is gone",
      );
      // The killed run's cgroups are prune's (rmi reclaims only the root it pins).
      assert.equal((await mc(["system", "prune", "-f"])).code, 0);
      assert.deepEqual(containerCgroups().filter((p) => !cgroupsBefore.has(p)), []);
    } finally {
      Deno.removeSync(work, { recursive: true });
    }
  },
});
