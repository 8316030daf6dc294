import assert from "node:assert/strict";
import { ContainerError } from "../../lib/errors.ts";
import {
  ALL_CAPABILITIES,
  CAPABILITIES,
  DEFAULT_CAPABILITIES,
  heldCapabilities,
  lastCapability,
  normalizeCapability,
  resolveCapabilities,
} from "../../lib/security/capabilities.ts";

const sorted = (list: readonly string[] | undefined) => [...(list ?? [])].sort();

Deno.test("capabilities: the table runs from CAP_CHOWN=0 to CAP_CHECKPOINT_RESTORE=40", () => {
  assert.equal(CAPABILITIES.CAP_CHOWN, 0);
  assert.equal(CAPABILITIES.CAP_SYS_ADMIN, 21);
  assert.equal(CAPABILITIES.CAP_CHECKPOINT_RESTORE, 40);
  assert.deepEqual(ALL_CAPABILITIES.map((c) => CAPABILITIES[c]), [...Array(41).keys()]);
  assert.equal(DEFAULT_CAPABILITIES.length, 14);
});

Deno.test("capabilities: the kernel's last capability comes from /proc", () => {
  const text = Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim();
  assert.equal(lastCapability(), Number(text));
});

Deno.test("capabilities: the runtime's own permitted set comes from /proc/self/status", () => {
  const line = Deno.readTextFileSync("/proc/self/status").split("\n")
    .find((l) => l.startsWith("CapPrm:"))!;
  assert.equal(heldCapabilities(), BigInt(`0x${line.slice(7).trim()}`));
});

Deno.test("capabilities: no flags give docker's fourteen in every set but inheritable/ambient", () => {
  const caps = resolveCapabilities([], [], false);
  for (const set of [caps.bounding, caps.effective, caps.permitted]) {
    assert.deepEqual(sorted(set), sorted(DEFAULT_CAPABILITIES));
  }
  assert.deepEqual(caps.inheritable, []);
  assert.deepEqual(caps.ambient, []);
});

Deno.test("capabilities: names with or without CAP_, any case", () => {
  assert.equal(normalizeCapability("net_admin"), "CAP_NET_ADMIN");
  assert.equal(normalizeCapability("Cap_Sys_Admin"), "CAP_SYS_ADMIN");
  assert.equal(normalizeCapability("all"), "ALL");
  const caps = resolveCapabilities(["net_admin", "CAP_SYS_PTRACE"], ["chown", "Cap_Kill"], false);
  const expected = DEFAULT_CAPABILITIES.filter((c) => c !== "CAP_CHOWN" && c !== "CAP_KILL")
    .concat("CAP_NET_ADMIN", "CAP_SYS_PTRACE");
  assert.deepEqual(sorted(caps.bounding), sorted(expected));
});

Deno.test("capabilities: --cap-drop ALL keeps only the adds, whatever the order", () => {
  assert.deepEqual(resolveCapabilities([], ["ALL"], false).bounding, []);
  assert.deepEqual(resolveCapabilities(["NET_BIND_SERVICE"], ["all"], false).bounding, [
    "CAP_NET_BIND_SERVICE",
  ]);
});

Deno.test("capabilities: --cap-add ALL gives all but the drops; an add beats nothing", () => {
  const caps = resolveCapabilities(["ALL"], ["SYS_ADMIN"], false);
  assert.equal(caps.bounding?.length, ALL_CAPABILITIES.length - 1);
  assert.ok(!caps.bounding?.includes("CAP_SYS_ADMIN"));
  // Adding a default capability does not duplicate it.
  assert.deepEqual(
    sorted(resolveCapabilities(["CHOWN"], [], false).bounding),
    sorted(DEFAULT_CAPABILITIES),
  );
});

Deno.test("capabilities: --privileged keeps every capability and ignores drops", () => {
  const caps = resolveCapabilities([], ["ALL"], true);
  assert.deepEqual(caps.bounding, [...ALL_CAPABILITIES]);
  assert.deepEqual(caps.effective, [...ALL_CAPABILITIES]);
  assert.deepEqual(caps.permitted, [...ALL_CAPABILITIES]);
});

Deno.test("capabilities: an unknown name is one sentence and exit 125", () => {
  for (const [add, drop] of [[["CAP_FLY"], []], [[], ["sys_fly"]], [[""], []]]) {
    assert.throws(() => resolveCapabilities(add, drop, false), (e: unknown) => {
      assert.ok(e instanceof ContainerError);
      assert.equal(e.exitCode, 125);
      assert.match(e.message, /^capability ".*": unknown capability name$/);
      return true;
    });
  }
  // Even with --privileged: a typo is still bad input.
  assert.throws(() => resolveCapabilities(["FLY"], [], true), ContainerError);
});
