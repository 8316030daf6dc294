/**
 * Layers and tarballs come plain, gzip'ed or zstd'ed: tell which by the
 * first bytes, and undo it as a stream.
 * @module
 */

import { Readable } from "node:stream";
import { createZstdDecompress } from "node:zlib";

/** Decompresses `stream` according to its magic bytes (gzip, zstd) or passes it as is. */
export async function decompressed(
  stream: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  const reader = stream.getReader();
  const first = await reader.read();
  const head = first.value ?? new Uint8Array(0);
  const rest = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.length) controller.enqueue(head);
    },
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  if (head[0] === 0x1f && head[1] === 0x8b) {
    return rest.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
  }
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    const node = Readable.fromWeb(rest as unknown as import("node:stream/web").ReadableStream).pipe(
      createZstdDecompress(),
    );
    return Readable.toWeb(node) as unknown as ReadableStream<Uint8Array>;
  }
  return rest;
}
