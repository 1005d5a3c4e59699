// A fixed pool of reusable buffers with reads issued ahead of processing and
// writes left in flight: the building block of the Node file-to-file paths.
// No buffer is allocated per chunk; a buffer is reused only after every write
// that references it has finished.

export interface PipelineSlot {
  buffer: Uint8Array;
  /** Writes still reading from this buffer. */
  pending: Promise<unknown>[];
}

export interface PipelineOptions {
  /** Bytes per read. */
  chunkSize: number;
  /** Number of buffers (reads ahead plus buffers held by writes). */
  buffers?: number;
  /** Reads in flight ahead of the one being processed. */
  readAhead?: number;
}

/**
 * Reads [0, total) of a file in order through a buffer pool and calls
 * `process` on each chunk in order. `process` may start writes from the
 * chunk's buffer and hand their promises back through `slot.pending`.
 */
export async function pipelineRead(
  read: (target: Uint8Array, position: number) => Promise<number>,
  total: number,
  options: PipelineOptions,
  process: (chunk: Uint8Array, position: number, slot: PipelineSlot) => void | Promise<void>,
): Promise<void> {
  const count = options.buffers ?? 8;
  const ahead = Math.min(options.readAhead ?? 3, count - 1);
  const slots: PipelineSlot[] = Array.from({ length: count }, () => ({ buffer: new Uint8Array(options.chunkSize), pending: [] }));
  const queue: { slot: PipelineSlot; position: number; length: number; done: Promise<number> }[] = [];
  let next = 0;
  let slotIndex = 0;
  let failure: unknown;

  const issue = async () => {
    const slot = slots[slotIndex]!;
    slotIndex = (slotIndex + 1) % count;
    if (slot.pending.length) {
      await Promise.all(slot.pending);
      slot.pending.length = 0;
    }
    const length = Math.min(options.chunkSize, total - next);
    const position = next;
    next += length;
    const done = read(slot.buffer.subarray(0, length), position);
    done.catch((err) => (failure ??= err));
    queue.push({ slot, position, length, done });
  };

  try {
    while (next < total && queue.length < ahead + 1) await issue();
    while (queue.length) {
      const head = queue.shift()!;
      const n = await head.done;
      if (n !== head.length) throw new RangeError(`short read at ${head.position + n}`);
      if (next < total) await issue();
      await process(head.slot.buffer.subarray(0, head.length), head.position, head.slot);
      if (failure) throw failure;
    }
  } finally {
    await Promise.allSettled(slots.flatMap((s) => s.pending));
  }
  for (const s of slots) await Promise.all(s.pending);
}
