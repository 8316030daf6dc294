// The cgroup v2 device filter (a BPF program generated in TypeScript), on the
// real kernel: this host's v2 hierarchy has no controllers, but device
// programs attach to any v2 cgroup.
import assert from "node:assert/strict";
import { attachDeviceFilter, deviceFilterProgram } from "../../lib/cgroups/devices.ts";
import { defaultDeviceRules } from "../../lib/container/default_spec.ts";
import { IS_ROOT } from "./helpers.ts";

function v2Root(): string | undefined {
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const [left, right] = line.split(" - ");
    if (right?.startsWith("cgroup2 ")) return left.split(" ")[4];
  }
  return undefined;
}

const root = IS_ROOT ? v2Root() : undefined;

Deno.test("device filter: one exit per rule, a default deny only when no rule matches everything", () => {
  const exits = (p: Uint8Array) =>
    [...Array(p.length / 8).keys()].filter((i) => p[i * 8] === 0x95).length;
  // The default list starts with "deny everything", which ends the program.
  assert.equal(exits(deviceFilterProgram(defaultDeviceRules())), defaultDeviceRules().length);
  const allowsOnly = defaultDeviceRules().slice(1);
  assert.equal(exits(deviceFilterProgram(allowsOnly)), allowsOnly.length + 1);
});

Deno.test({
  name: root
    ? "device filter: the kernel loads it and it allows the given nodes only"
    : "device filter (skipped: needs root and a cgroup2 mount)",
  ignore: !root,
  async fn() {
    const dir = `${root}/mc-devfilter-${Deno.pid}`;
    Deno.mkdirSync(dir);
    try {
      attachDeviceFilter(dir, defaultDeviceRules());
      const script = [
        `echo $$ > ${dir}/cgroup.procs`,
        "head -c 3 /dev/zero | wc -c",
        "cat /dev/null && echo null-ok",
        "mknod /dev/mc-test-loop b 7 0 && echo mknod-ok",
        "head -c 1 /dev/mc-test-loop 2>&1 || true",
        "rm -f /dev/mc-test-loop",
      ].join("; ");
      const out = await new Deno.Command("sh", {
        args: ["-c", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.match(text, /^3$/m, text);
      assert.match(text, /^null-ok$/m, text);
      assert.match(text, /^mknod-ok$/m, "mknod is allowed (it grants no access)");
      assert.match(text, /Operation not permitted/, "opening an unlisted block device is refused");
    } finally {
      Deno.removeSync(dir);
    }
  },
});
