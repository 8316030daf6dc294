// docker's size units (go-units) as stats and prune print them.
import assert from "node:assert/strict";
import { binarySize, decimalSize, humanBytes } from "../../lib/state/disk_usage.ts";

Deno.test("binarySize: go-units BytesSize (%.4g, powers of 1024), stats' memory", () => {
  assert.equal(binarySize(0), "0B");
  assert.equal(binarySize(1023), "1023B");
  assert.equal(binarySize(1024), "1KiB");
  assert.equal(binarySize(1536), "1.5KiB");
  assert.equal(binarySize(64 * 1024 * 1024), "64MiB");
  assert.equal(binarySize(2e9), "1.863GiB");
  assert.equal(binarySize(3_456_789), "3.297MiB");
});

Deno.test("decimalSize: go-units HumanSizeWithPrecision (%.Ng, powers of 1000), stats' I/O", () => {
  assert.equal(decimalSize(0, 3), "0B");
  assert.equal(decimalSize(999, 3), "999B");
  assert.equal(decimalSize(1000, 3), "1kB");
  assert.equal(decimalSize(1234, 3), "1.23kB");
  assert.equal(decimalSize(12_345_678, 3), "12.3MB");
  assert.equal(decimalSize(648, 3), "648B");
  // Go's %g goes to an exponent once rounding needs a fourth digit: docker prints this too.
  assert.equal(decimalSize(999_999, 3), "1e+03kB");
  assert.equal(humanBytes(1_500_000), "1.5MB");
  assert.equal(humanBytes(0), "0B");
});
