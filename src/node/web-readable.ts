// A Node Readable (stdin, a pipe, a socket) as a web ReadableStream without
// a copy per chunk. Readable.toWeb copies every chunk into a fresh
// ArrayBuffer in case it is a view into Node's shared Buffer pool; a chunk
// read from a pipe or socket owns its whole ArrayBuffer, so it can be handed
// on as it is, and only pooled views are copied.
import type { Readable } from 'node:stream';
import { MiB } from '../format/bytes.js';

/** `chunk` itself when nothing else can see its memory, else a copy. */
function ownedBytes(chunk: Uint8Array): Uint8Array {
  return chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : new Uint8Array(chunk);
}

/**
 * Wraps `source` as a ReadableStream of its chunks. Reading pauses while
 * `highWaterMark` bytes wait unread; cancelling destroys the source.
 */
export function readableToWeb(source: Readable, highWaterMark = 4 * MiB): ReadableStream<Uint8Array> {
  let finished = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        source.on('data', (chunk: Uint8Array) => {
          if (finished) return;
          controller.enqueue(ownedBytes(chunk));
          if ((controller.desiredSize ?? 1) <= 0) source.pause();
        });
        source.once('end', () => {
          if (finished) return;
          finished = true;
          controller.close();
        });
        source.once('error', (err) => {
          if (finished) return;
          finished = true;
          controller.error(err);
        });
        source.pause();
      },
      pull() {
        source.resume();
      },
      cancel() {
        finished = true;
        source.destroy();
      },
    },
    { highWaterMark, size: (chunk) => chunk.byteLength },
  );
}
