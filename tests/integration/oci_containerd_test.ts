/**
 * containerd drives minicontainer through its runc shim (`ctr run
 * --runc-binary`): a containerd of the test's own (socket, root and state
 * in a temporary directory, the CRI plugin off) runs a rootfs directory.
 * @module
 */

import assert from "node:assert/strict";
import { LAUNCHER, mc, removeCgroupTree, rootOnly, waitFor } from "./helpers.ts";

const decoder = new TextDecoder();

Deno.test(
  rootOnly("containerd: ctr run --runc-binary minicontainer: run --rm, -d, exec, ps, pause, kill"),
  async () => {
    const dir = Deno.makeTempDirSync({ dir: "/tmp", prefix: "mcctr-" });
    const sock = `${dir}/c.sock`;
    Deno.writeTextFileSync(
      `${dir}/config.toml`,
      [
        "version = 2",
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]",
        `  address = "${sock}"`,
        "[ttrpc]",
        `  address = "${sock}.ttrpc"`,
        "[debug]",
        `  address = "${dir}/debug.sock"`,
        "",
      ].join("\n"),
    );
    const built = await mc(["rootfs", "build", `${dir}/rootfs`]);
    assert.equal(built.code, 0, built.stderr);
    const daemon = new Deno.Command("containerd", {
      args: ["--config", `${dir}/config.toml`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ctr = async (args: string[]) => {
      const out = await new Deno.Command("ctr", { args: ["-a", sock, ...args], stdin: "null" })
        .output();
      return {
        code: out.code,
        stdout: decoder.decode(out.stdout),
        stderr: decoder.decode(out.stderr),
      };
    };
    // cgroupsPath below a parent of the test's own, removed at the end.
    const cgroups = `mc-ctr-test-${Deno.pid}`;
    const runtime = ["--runc-binary", LAUNCHER, "--runc-root", `${dir}/oci`];
    try {
      await waitFor(
        () => {
          try {
            return Deno.statSync(sock).isSocket === true;
          } catch {
            return false;
          }
        },
        10_000,
        "containerd's socket",
      );
      const r = await ctr([
        "run",
        "--rm",
        ...runtime,
        "--cgroup",
        `/${cgroups}/once`,
        "--rootfs",
        `${dir}/rootfs`,
        "once",
        "sh",
        "-c",
        "echo hello from containerd; exit 4",
      ]);
      assert.equal(r.stdout, "hello from containerd\n", r.stderr);
      assert.equal(r.code, 4);

      const d = await ctr([
        "run",
        "-d",
        ...runtime,
        "--cgroup",
        `/${cgroups}/bg`,
        "--rootfs",
        `${dir}/rootfs`,
        "bg",
        "sh",
        "-c",
        'trap "exit 5" TERM; while true; do sleep 0.1; done',
      ]);
      assert.equal(d.code, 0, d.stderr);
      // The shim called minicontainer with --root DIR/oci/default: its OCI state is there.
      const state = await mc(["--root", `${dir}/oci/default`, "state", "bg"]);
      assert.equal(JSON.parse(state.stdout).status, "running", state.stderr);
      const exec = await ctr([
        "task",
        "exec",
        "--exec-id",
        "e1",
        "bg",
        "sh",
        "-c",
        "echo in; exit 6",
      ]);
      assert.equal(exec.stdout, "in\n", exec.stderr);
      assert.equal(exec.code, 6);
      const ps = await ctr(["task", "ps", "bg"]);
      assert.match(ps.stdout, new RegExp(`^${JSON.parse(state.stdout).pid}\\s`, "m"), ps.stderr);
      assert.equal((await ctr(["task", "pause", "bg"])).code, 0);
      assert.match((await ctr(["task", "ls"])).stdout, /bg\s+\d+\s+PAUSED/);
      assert.equal((await ctr(["task", "resume", "bg"])).code, 0);
      assert.equal((await ctr(["task", "kill", "bg"])).code, 0);
      for (let i = 0; i < 100 && !/STOPPED/.test((await ctr(["task", "ls"])).stdout); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const deleted = await ctr(["task", "delete", "bg"]);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.match(deleted.stdout + deleted.stderr, /exit code 5|^$/);
      assert.equal((await ctr(["container", "rm", "bg"])).code, 0);
      const left = await mc(["--root", `${dir}/oci/default`, "list", "-q"]);
      assert.equal(left.stdout, "", "an OCI container outlived ctr's delete");
    } finally {
      await ctr(["task", "kill", "-s", "KILL", "bg"]);
      await ctr(["task", "delete", "bg"]);
      await ctr(["container", "rm", "bg"]);
      await removeCgroupTree(cgroups);
      daemon.kill("SIGTERM");
      await daemon.status;
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* a file still held */ }
    }
  },
);
