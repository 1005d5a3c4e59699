// A conversion's input read as whole chunks in two reused buffers, the next
// chunk read while the current one is worked on. Reusing the buffers matters
// more than it seems: File.stream()'s default reader hands out a fresh
// ArrayBuffer per chunk, and allocating, faulting in and collecting those
// costs about as much as the read itself (a BYOB reader into one buffer
// reads a File about twice as fast in Chromium).
import type { RandomAccessSource } from 'vhdx-stream';

/** Fills `buffer` from the input's next bytes; fewer only at the end (none after it). */
type Fill = (buffer: Uint8Array) => Promise<Uint8Array>;

/**
 * The input in chunks of `chunkSize` bytes (the last one shorter). Each chunk
 * is a view of a reused buffer, valid until the consumer asks for the next:
 * a consumer must be done with it by then (the VHDX writer is once its write
 * settles). Breaking out of the loop cancels the read. `stallMs`: see STALL_MS.
 * @throws Error when the input ends before `input.size` bytes (a file changed
 *   or a short source); the Blob's read errors as they are
 */
export async function* inputChunks(
  input: Blob | RandomAccessSource,
  chunkSize: number,
  stallMs = STALL_MS,
): AsyncGenerator<Uint8Array, void, undefined> {
  const { fill, cancel } = input instanceof Blob ? blobFill(input, stallMs) : sourceFill(input);
  let spare: Uint8Array = new Uint8Array(chunkSize);
  let pending = fill(new Uint8Array(chunkSize));
  let total = 0;
  try {
    for (;;) {
      const chunk = await pending;
      total += chunk.length;
      if (chunk.length === 0 || total >= input.size) {
        if (total !== input.size) throw new Error(`the input ended early, at ${total} of ${input.size} bytes`);
        if (chunk.length > 0) yield chunk;
        return;
      }
      // the consumer is done with the spare (it asked for this chunk): read into it meanwhile
      pending = fill(spare);
      yield chunk;
      spare = new Uint8Array(chunk.buffer, 0, chunkSize);
    }
  } finally {
    pending.catch(() => {}); // a read still in flight after a break or an error
    await cancel();
  }
}

/**
 * How long a BYOB read of a File may bring nothing before its stream is taken
 * for stalled: Chromium's (156) BYOB reads of a File's stream now and then
 * never settle, a few times in a hundred 1 GiB reads here, where its default
 * reader never did. A stalled stream is cancelled and the File read on from
 * the chunk's start through a new one.
 */
export const STALL_MS = 1000;
/** Stalled streams replaced before the rest of the File is read as slices (slower, never seen to stall). */
const REOPENS = 3;

/** A Blob through a BYOB reader (no buffer per chunk), or as slices where its stream has none (or keeps stalling). */
function blobFill(blob: Blob, stallMs: number): { fill: Fill; cancel(): Promise<void> } {
  let at = 0; // bytes handed out so far
  let reopens = 0;
  let reader = byobReader(blob);
  const fill: Fill = async (buffer) => {
    const length = buffer.length; // a read detaches the buffer
    let target = buffer;
    while (reader) {
      const bytes = await readFull(reader, target, stallMs);
      if (bytes) {
        at += bytes.length;
        return bytes;
      }
      // stalled: the buffer went with the cancelled read; read on from here through a new stream
      target = new Uint8Array(length);
      reader = ++reopens <= REOPENS ? byobReader(blob.slice(at)) : undefined;
    }
    // each slice is a fresh buffer, the given one unused
    const bytes = new Uint8Array(await blob.slice(at, at + length).arrayBuffer());
    at += bytes.length;
    return bytes;
  };
  return { fill, cancel: async () => reader?.cancel() };
}

/** A BYOB reader of the Blob's stream, or undefined where its stream is not a byte stream. */
function byobReader(blob: Blob): ReadableStreamBYOBReader | undefined {
  const stream = blob.stream();
  try {
    return stream.getReader({ mode: 'byob' });
  } catch {
    void stream.cancel().catch(() => {});
    return undefined;
  }
}

/**
 * Fills `buffer` through `reader` (fewer bytes only at the stream's end), or
 * returns undefined after cancelling a stream that brought nothing for a
 * whole `stallMs` (between one and two periods).
 */
async function readFull(reader: ReadableStreamBYOBReader, buffer: Uint8Array, stallMs: number): Promise<Uint8Array | undefined> {
  // a BYOB read moves the buffer into the stream and back: keep track of the returned one
  const length = buffer.length;
  let memory = buffer.buffer as ArrayBuffer;
  let filled = 0;
  let stalled = false;
  let seen = -1;
  const watchdog = setInterval(() => {
    if (filled === seen) {
      stalled = true;
      reader.cancel().catch(() => {}); // settles the pending read as done
    }
    seen = filled;
  }, stallMs);
  try {
    while (filled < length) {
      const { value, done } = await reader.read(new Uint8Array(memory, filled, length - filled));
      if (stalled) return undefined;
      if (value) memory = value.buffer as ArrayBuffer;
      if (done) break;
      filled += value!.length;
    }
  } finally {
    clearInterval(watchdog);
  }
  return new Uint8Array(memory, 0, filled);
}

/** A random-access source (an OPFS file through its access handle) read into the given buffers. */
function sourceFill(source: RandomAccessSource): { fill: Fill; cancel(): Promise<void> } {
  let at = 0;
  const fill: Fill = async (buffer) => {
    const target = buffer.subarray(0, Math.max(0, Math.min(buffer.length, source.size - at)));
    let n: number;
    if (source.readInto) n = await source.readInto(target, at);
    else {
      const bytes = await source.read(at, target.length);
      target.set(bytes.subarray(0, target.length));
      n = Math.min(bytes.length, target.length);
    }
    at += n;
    return target.subarray(0, n);
  };
  return { fill, cancel: async () => {} };
}
