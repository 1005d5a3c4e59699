// Chunks between async iterables and web streams, so that one
// iterable-based helper (such as a zero tail) serves both.
/** The chunks of `stream`; stopping early cancels it. */
export async function* chunksOf<T>(stream: ReadableStream<T>): AsyncGenerator<T, void, undefined> {
  const reader = stream.getReader();
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      yield value;
    }
  } finally {
    if (!ended) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** `chunks` as a web stream, pulled one chunk at a time; cancelling it stops the iteration. */
export function streamOf<T>(chunks: AsyncIterable<T>): ReadableStream<T> {
  const it = chunks[Symbol.asyncIterator]();
  return new ReadableStream<T>({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}
