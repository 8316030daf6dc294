import assert from "node:assert/strict";
import { ContainerError } from "../../lib/errors.ts";
import { parseSignal, sendSignal, SIGNALS, stopSignalOf } from "../../lib/container/lifecycle.ts";
import type { ContainerState } from "../../lib/state/store.ts";

Deno.test("parseSignal: every kill -l name, with or without SIG, any case, and numbers", () => {
  const kill = new Deno.Command("bash", { args: ["-c", "kill -l"], stdout: "piped" }).outputSync();
  const listed = [...new TextDecoder().decode(kill.stdout).matchAll(/(\d+)\) SIG([A-Z0-9+-]+)/g)];
  assert.ok(listed.length >= 60, "bash's kill -l lists the signals");
  for (const [, number, name] of listed) {
    for (const text of [`SIG${name}`, name, name.toLowerCase(), number]) {
      assert.equal(parseSignal(text), Number(number), text);
    }
  }
  assert.equal(parseSignal("RTMIN"), 34);
  assert.equal(parseSignal("SIGRTMIN+3"), 37); // systemd's stop signal
  assert.equal(parseSignal("RTMAX"), 64);
  assert.equal(parseSignal("SIGALRM"), 14);
  assert.equal(parseSignal("IOT"), SIGNALS.SIGABRT);
});

Deno.test("parseSignal: unknown names and numbers out of range are errors naming them", () => {
  for (
    const text of ["", "0", "65", "SIGNOPE", "RTMIN+31", "RTMAX-31", "RTMIN-1", "RTMAX+1", "9x"]
  ) {
    assert.throws(
      () => parseSignal(text),
      (e: unknown) => e instanceof ContainerError && e.message.includes(JSON.stringify(text)),
      text,
    );
  }
});

Deno.test("stopSignalOf: an image's unknown StopSignal is SIGTERM, with a warning", () => {
  const state = { name: "c", stopSignal: "SIGNOPE" } as ContainerState;
  const warned: string[] = [];
  const error = console.error;
  console.error = (line: string) => warned.push(line);
  try {
    assert.equal(stopSignalOf(state), 15);
    assert.equal(stopSignalOf({ ...state, stopSignal: "SIGRTMIN+3" }), 37);
    assert.equal(stopSignalOf({ ...state, stopSignal: undefined }), 15);
  } finally {
    console.error = error;
  }
  assert.equal(warned.length, 1);
  assert.match(warned[0], /"SIGNOPE" is not one this runtime knows; sending SIGTERM/);
});

Deno.test("sendSignal: each named signal arrives as that number, a real-time one too; a gone pid is ESRCH", async () => {
  // Deno reports a child killed by signal N as code 128 + N.
  for (const signal of [SIGNALS.SIGTERM, SIGNALS.SIGUSR2, SIGNALS.SIGKILL]) {
    const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
    assert.equal(sendSignal(child.pid, signal), 0);
    assert.equal((await child.status).code, 128 + signal);
  }
  // Deno cannot name SIGRTMIN+3 (systemd's stop signal): bash traps it.
  const bash = new Deno.Command("bash", {
    args: ["-c", "trap 'exit 100' RTMIN+3; echo ready; while :; do sleep 0.05; done"],
    stdout: "piped",
  }).spawn();
  const reader = bash.stdout.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /ready/);
  reader.releaseLock();
  assert.equal(sendSignal(bash.pid, 37), 0);
  assert.equal((await bash.output()).code, 100);
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  assert.equal(sendSignal(gone.pid, SIGNALS.SIGTERM), 3);
});
