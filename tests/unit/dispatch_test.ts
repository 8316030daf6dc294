// Which form of a verb both runc and docker have main.ts picks: podman's
// conmon and containerd's shim must keep getting runc's create and start,
// a docker user docker's.
import assert from "node:assert/strict";
import { runcStyle } from "../../main.ts";
import { globalOptions } from "../../lib/cli/global.ts";

/** Runs `fn` in a fresh directory as the working directory and the state root. */
function inTempDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "mc-dispatch-" });
  const cwd = Deno.cwd();
  const saved = { ...globalOptions };
  try {
    Deno.chdir(dir);
    globalOptions.stateRoot = dir;
    globalOptions.runc = false;
    fn(dir);
  } finally {
    Object.assign(globalOptions, saved);
    Deno.chdir(cwd);
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("dispatch: conmon's and containerd's create and start are runc's", () => {
  inTempDir((dir) => {
    // conmon: create --bundle B --pid-file P [--console-socket S] ID; containerd's go-runc the same.
    assert.ok(runcStyle("create", ["--bundle", "/b", "--pid-file", "/p", "id1"]));
    assert.ok(runcStyle("create", ["-b", "/b", "id1"]));
    assert.ok(runcStyle("create", ["--bundle=/b", "id1"]));
    assert.ok(runcStyle("create", ["--console-socket", "/s", "--no-pivot", "id1"]));
    assert.ok(runcStyle("create", ["--preserve-fds", "2", "id1"]));
    // `start ID` of a container made by runc's create.
    Deno.mkdirSync(`${dir}/oci/ctr1`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/oci/ctr1/state.json`, "{}");
    assert.ok(runcStyle("start", ["ctr1"]));
    // Under runc's global flags, whatever follows.
    globalOptions.runc = true;
    assert.ok(runcStyle("start", ["nosuch"]));
    assert.ok(runcStyle("create", ["busybox"]));
  });
});

Deno.test("dispatch: runc's create ID in a bundle directory; docker's create and start otherwise", () => {
  inTempDir((dir) => {
    // docker's: an image or a command, run's flags; start of names that are not OCI containers.
    assert.ok(!runcStyle("create", ["busybox"]));
    assert.ok(!runcStyle("create", ["--name", "web", "busybox", "sleep", "9"]));
    assert.ok(!runcStyle("create", ["-it", "sh"]));
    assert.ok(!runcStyle("start", ["web"]));
    assert.ok(!runcStyle("start", ["-a", "web"]));
    assert.ok(!runcStyle("start", ["web", "db"]));
    assert.ok(!runcStyle("create", ["--help"]));
    // runc's bundle defaults to the working directory: `create ID` alone where config.json is.
    Deno.writeTextFileSync(`${dir}/config.json`, "{}");
    assert.ok(runcStyle("create", ["id1"]));
    assert.ok(!runcStyle("create", ["busybox", "sh"]));
    assert.ok(!runcStyle("create", ["--name", "x", "busybox"]));
    // A docker flag on an OCI container's id: docker's start (which will not find it).
    Deno.mkdirSync(`${dir}/oci/ctr1`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/oci/ctr1/state.json`, "{}");
    assert.ok(!runcStyle("start", ["-a", "ctr1"]));
    assert.ok(!runcStyle("start", ["ctr1", "web"]));
  });
});
