import * as ponyfill from 'web-streams-polyfill';
import { VhdxError } from '../errors.js';

// The WHATWG stream classes: the runtime's own when it has them (every
// supported runtime does), otherwise the web-streams-polyfill ponyfill, which
// never touches globals. Imported statically: a top-level await would break
// bundles and runtimes that refuse it, and the classes are needed
// synchronously (VhdxWriterStream extends WritableStream at load time).
type Streams = {
  TransformStream: typeof TransformStream;
  WritableStream: typeof WritableStream;
  ReadableStream: typeof ReadableStream;
};

const streams: Streams =
  typeof globalThis.TransformStream === 'function'
    ? { TransformStream: globalThis.TransformStream, WritableStream: globalThis.WritableStream, ReadableStream: globalThis.ReadableStream }
    : (ponyfill as unknown as Streams);

export const TransformStreamImpl = streams.TransformStream;
export const WritableStreamImpl = streams.WritableStream;
export const ReadableStreamImpl = streams.ReadableStream;

/** Queue a few MiB on each side so producers and consumers overlap. */
export const BYTE_QUEUE = 4 * 1024 * 1024;

export function byteStrategy<T extends ArrayBufferView | ArrayBuffer>(highWaterMark = BYTE_QUEUE): QueuingStrategy<T> {
  return { highWaterMark, size: (chunk: T) => chunk.byteLength };
}

/**
 * A view of any BufferSource chunk as bytes, without copying.
 * @throws VhdxError `unsupported-chunk` for anything else.
 */
export function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new VhdxError('unsupported-chunk', `stream chunks must be ArrayBuffer or ArrayBufferView, got ${describeChunk(chunk)}`, {
    structure: 'input',
  });
}

function describeChunk(chunk: unknown): string {
  if (chunk === null) return 'null';
  return typeof chunk === 'object' ? (chunk.constructor?.name ?? 'an object') : typeof chunk;
}
