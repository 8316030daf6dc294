// Fault injection: SIGKILL of run, run IMAGE, run -d, rm, pull and import at
// seeded random delays, then one `system prune -f`, then nothing left: no
// cgroup, no container folder, no temporary directory in the image store, no
// stray state, no mount, no process. FAULT_SEED=N replays a failing order.
import assert from "node:assert/strict";
import {
  containerCgroups,
  hostMounts,
  killAfter,
  mc,
  processesWith,
  rootOnly,
  sh,
  TEST_HOME,
  waitFor,
} from "./helpers.ts";
import { startRegistry, writeImage, writeIndex } from "./oci_fixture.ts";

const KILLS = 6;
const STATE = `${TEST_HOME}/state`;
const IMAGES = `${TEST_HOME}/data/images`;
/** Every container's own directory (writable layer, image root). */
const CONTAINERS = `${TEST_HOME}/data/containers`;

/** mulberry32: a small seeded generator, so a failing order can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ls(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Container ids this test's state root has heard of (folders, tombstones, journal entries). */
function idsSeen(into: Set<string>): void {
  for (const name of [...ls(STATE), ...ls(`${STATE}/owners`)]) {
    const m = /([0-9a-f]{64})/.exec(name);
    if (m) into.add(m[1]);
  }
}

/** A gzip'ed tar of one file of `mib` MiB of random bytes (it does not compress). */
async function randomLayer(
  work: string,
  name: string,
  mib: number,
): Promise<Uint8Array<ArrayBuffer>> {
  await sh(
    `mkdir -p ${work}/${name} && head -c ${mib}M /dev/urandom > ${work}/${name}/${name}.bin && tar -C ${work}/${name} -czf ${work}/${name}.tgz .`,
  );
  return Deno.readFileSync(`${work}/${name}.tgz`);
}

Deno.test({
  ...rootOnly(
    "fault injection: SIGKILL of run, run IMAGE, run -d, rm, pull and import, then system prune leaves nothing",
  ),
  async fn() {
    const seed = Number(Deno.env.get("FAULT_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`fault injection seed: ${seed} (FAULT_SEED=${seed} replays it)`);
    const random = rng(seed);
    const delay = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
    const work = Deno.makeTempDirSync({ prefix: "mc-fault-" });
    const reg = await startRegistry(work);
    const seen = new Set<string>();
    // `sleep MARKER`: this test's containers; long enough that a detached one never ends on its own during the test.
    const marker = `${300 + random()}`.slice(0, 10);
    try {
      // The default rootfs (built on first use), as a tar: a small image to run and import.
      assert.equal((await mc(["run", "/bin/true"])).code, 0);
      await sh(`tar -C ${TEST_HOME}/data/rootfs/default -cf ${work}/rootfs.tar .`);
      const imported = await mc(["import", `${work}/rootfs.tar`, "fault:base"]);
      assert.equal(imported.code, 0, imported.stderr);
      // A bigger image for pull and import to be killed in the middle of.
      const layers = [await randomLayer(work, "a", 12), await randomLayer(work, "b", 12)];
      const top = await writeImage(`${work}/oci`, layers, { architecture: "amd64", config: {} });
      writeIndex(`${work}/oci`, {
        ...top,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
      });
      const ref = `127.0.0.1:${reg.port}/fault/big:1`;
      await sh(`skopeo copy -q --dest-tls-verify=false oci:${work}/oci:1 docker://${ref}`);
      await sh(`cat ${work}/a.tgz > ${work}/big.tgz`);
      // Other tests on this host mount and unmount too: only mounts of this test's directories count.
      const ours = () => hostMounts().filter((l) => l.includes(TEST_HOME) || l.includes(work));
      const mountsBefore = ours();

      // What the kills left right after them (the next command may reclaim it).
      const observed = { afterPull: 0, afterImport: 0, runClaims: 0 };
      for (let i = 0; i < KILLS; i++) {
        await killAfter(["run", "sleep", marker], delay(50, 900));
        idsSeen(seen);
        await killAfter(["run", "fault:base", "sleep", marker], delay(50, 900));
        idsSeen(seen);
        await killAfter(["run", "-d", "sleep", marker], delay(50, 900));
        idsSeen(seen);
        const started = await mc(["run", "-d", "sleep", marker]);
        assert.equal(started.code, 0, started.stderr);
        idsSeen(seen);
        await killAfter(["rm", "-f", started.stdout.trim()], delay(50, 500));
        idsSeen(seen);
        await killAfter(["pull", "--insecure", ref], delay(100, 1500));
        observed.afterPull += ls(`${IMAGES}/layers`).filter((n) => n.startsWith(".")).length +
          ls(`${IMAGES}/blobs`).length;
        await killAfter(["import", `${work}/big.tgz`, "fault:big"], delay(100, 1200));
        observed.afterImport += ls(`${IMAGES}/layers`).filter((n) => n.startsWith(".")).length;
        idsSeen(seen);
        observed.runClaims += ls(`${STATE}/owners`).length;
      }

      // What the kills left (what the runs in between had not reclaimed yet), for the log.
      const left = {
        cgroups: containerCgroups().filter((p) =>
          [...seen].some((id) =>
            p.endsWith(`minicontainer-${id}`)
          )
        ).length,
        claims: ls(`${STATE}/owners`).length,
        folders: ls(STATE).filter((n) => n.startsWith(".")).length,
        dirs: ls(CONTAINERS).length,
        scratch: ls(`${IMAGES}/layers`).filter((n) => n.startsWith(".")).length,
        blobs: ls(`${IMAGES}/blobs`).length,
      };
      console.log(`seen after the kills: ${JSON.stringify(observed)}`);
      console.log(`before prune: ${JSON.stringify(left)}`);
      assert.ok(observed.runClaims > 0, "some kill of run left its journal entry");
      const pruned = await mc(["system", "prune", "-f"]);
      console.log(pruned.stdout.split("\n").filter((l) => !l.startsWith("/")).join(" "));
      assert.equal(pruned.code, 0, pruned.stderr);
      assert.match(pruned.stdout, /Total reclaimed space: /);

      // What is left is whole, running detached containers (a killed `run -d`
      // whose supervisor had started, a killed `rm` that had not killed yet).
      const ps = await mc(["ps", "-a", "--format", "json"]);
      const listed = ps.stdout.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
      const dirs = ls(STATE).filter((n) => !["names", "owners"].includes(n));
      assert.equal(dirs.length, listed.length, `every folder is a listed container: ${dirs}`);
      for (const c of listed) assert.equal(c.State, "running", JSON.stringify(c));
      for (const c of listed) assert.equal((await mc(["rm", "-f", c.ID])).code, 0);

      // Nothing left at all.
      assert.deepEqual(ls(STATE).filter((n) => !["names", "owners"].includes(n)), []);
      // A supervisor ends its claim as it exits, a moment after rm -f saw its record.
      await waitFor(() => ls(`${STATE}/owners`).length === 0, 5000, "no journal entry");
      assert.deepEqual(ls(`${STATE}/names`).filter((n) => !n.startsWith(".")), [], "no name");
      const cgroups = containerCgroups().filter((p) =>
        [...seen].some((id) => p.endsWith(`minicontainer-${id}`))
      );
      assert.deepEqual(cgroups, [], "no cgroup of this test's containers");
      assert.deepEqual(ls(CONTAINERS), [], "no container directory");
      assert.deepEqual(ls(`${IMAGES}/layers`).filter((n) => n.startsWith(".")), [], "no scratch");
      assert.deepEqual(ls(`${IMAGES}/leases`), [], "no lease");
      // blobs/sha256 holds the images' own blobs (fault:base's): only downloads must be gone.
      assert.deepEqual(ls(`${IMAGES}/blobs`).filter((n) => n !== "sha256"), [], "no download");
      assert.deepEqual(ls(IMAGES).filter((n) => n.includes(".tmp")), [], "no temporary index");
      assert.deepEqual(ours(), mountsBefore, "no mount");
      await waitFor(() => processesWith(`sleep ${marker}`).length === 0, 5000, "no process");
      // The imported base image is still whole and runs.
      const again = await mc(["run", "fault:base", "/bin/true"]);
      assert.equal(again.code, 0, again.stderr);
      assert.ok(seen.size >= KILLS * 3, `the kills hit containers (${seen.size} ids seen)`);
    } finally {
      await reg.stop();
      Deno.removeSync(work, { recursive: true });
    }
  },
});
