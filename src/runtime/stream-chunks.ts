// A web stream read as an async iterable, so that one iterable-based helper
// (such as a zero tail) serves streams and iterables alike. Not every
// ReadableStream implementation is async iterable itself.
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
