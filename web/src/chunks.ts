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
 * settles). Breaking out of the loop cancels the read.
 * @throws Error when the input ends before `input.size` bytes (a file changed
 *   or a short source); the Blob's read errors as they are
 */
export async function* inputChunks(input: Blob | RandomAccessSource, chunkSize: number): AsyncGenerator<Uint8Array, void, undefined> {
  const { fill, cancel } = input instanceof Blob ? blobFill(input) : sourceFill(input);
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

/** A Blob through a BYOB reader (no buffer per chunk), or as slices where its stream has none. */
function blobFill(blob: Blob): { fill: Fill; cancel(): Promise<void> } {
  const stream = blob.stream();
  let reader: ReadableStreamBYOBReader;
  try {
    reader = stream.getReader({ mode: 'byob' });
  } catch {
    // not a byte stream in this browser: each slice is a fresh buffer, the given one unused
    let at = 0;
    const fill: Fill = async (buffer) => {
      const end = Math.min(blob.size, at + buffer.length);
      const bytes = new Uint8Array(await blob.slice(at, end).arrayBuffer());
      at += bytes.length;
      return bytes;
    };
    return { fill, cancel: () => stream.cancel() };
  }
  const fill: Fill = async (buffer) => {
    // a BYOB read moves the buffer into the stream and back: keep track of the returned one
    const length = buffer.length;
    let memory = buffer.buffer as ArrayBuffer;
    let filled = 0;
    while (filled < length) {
      const { value, done } = await reader.read(new Uint8Array(memory, filled, length - filled));
      if (value) memory = value.buffer as ArrayBuffer;
      if (done) break;
      filled += value!.length;
    }
    return new Uint8Array(memory, 0, filled);
  };
  return { fill, cancel: () => reader.cancel() };
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
