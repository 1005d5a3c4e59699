// Web streams made from async iterables, and handed over chunk by chunk
// (the other way, chunksOf, is in runtime/stream-chunks.ts).
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

/**
 * Hands chunks from a producer that pushes them (the decoder's output) to a
 * consumer that pulls them (an encoder or writer reading an async iterable),
 * one at a time and without copying: each `push` settles once the consumer
 * has asked for the next chunk, so the producer may then reuse its bytes.
 */
export class ChunkHandoff {
  private slot: { chunk: Uint8Array; taken(): void; refused(reason: unknown): void } | undefined;
  private ended = false;
  private failure: { reason: unknown } | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  /**
   * Gives `chunk` to the consumer; settles when it is done with it.
   * Rejects with {@link ChunkHandoff.STOPPED} when the consumer has stopped.
   */
  push(chunk: Uint8Array): Promise<void> {
    if (this.stopped) return Promise.reject(ChunkHandoff.STOPPED);
    return new Promise<void>((taken, refused) => {
      this.slot = { chunk, taken, refused };
      this.notify();
    });
  }

  /** No more chunks: the consumer's iteration ends. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  /** The producer failed: the consumer's iteration throws `reason`. */
  fail(reason: unknown): void {
    this.failure = { reason };
    this.notify();
  }

  /** What a push rejects with once the consumer has stopped (returned early or thrown). */
  static readonly STOPPED = new Error('the consumer stopped');

  /** The chunks, for one consumer. */
  async *chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      for (;;) {
        while (!this.slot && !this.ended && !this.failure) await new Promise<void>((resolve) => (this.wake = resolve));
        if (this.failure) throw this.failure.reason;
        const slot = this.slot;
        if (!slot) return;
        yield slot.chunk;
        this.slot = undefined;
        slot.taken();
      }
    } finally {
      this.stopped = true;
      this.slot?.refused(ChunkHandoff.STOPPED);
      this.slot = undefined;
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
