import assert from "node:assert/strict";
import { deviceFilterProgram, ruleText, v1DeviceWrites } from "../../lib/cgroups/devices.ts";
import { defaultDeviceRules } from "../../lib/container/default_spec.ts";

Deno.test("device rules: runc's current AllowedDevices exactly, after a deny-all; no host console", () => {
  const rules = defaultDeviceRules();
  assert.deepEqual(rules.map((r) => `${r.allow ? "allow" : "deny"} ${ruleText(r)}`), [
    "deny a *:* rwm",
    "allow c *:* m",
    "allow b *:* m",
    "allow c 1:3 rwm",
    "allow c 1:8 rwm",
    "allow c 1:7 rwm",
    "allow c 5:0 rwm",
    "allow c 1:5 rwm",
    "allow c 1:9 rwm",
    "allow c 136:* rwm",
    "allow c 5:2 rwm",
    "allow c 10:200 rwm",
  ]);
  // Both enforcements derive from the list: v1 lines and the v2 program.
  assert.ok(!v1DeviceWrites(rules).some((w) => w.files[0][1].includes("5:1 ")));
  const program = deviceFilterProgram(rules);
  const immediates = [...Array(program.length / 8).keys()].map((i) =>
    new DataView(program.buffer).getInt32(i * 8 + 4, true)
  );
  assert.ok(immediates.includes(200) && immediates.includes(10), "tun is in the v2 program");
});
