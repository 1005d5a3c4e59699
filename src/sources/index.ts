// Turns any input a browser, Worker or Node program can hand over without a
// file system into a ReadableFile. Paths and FileHandles are the Node
// entry's business (src/node/file-source.ts), so nothing here reaches `node:`.
import { VhdxError } from '../errors.js';
import { blobSource } from './blob.js';
import { httpSource, isHttpUrl, type HttpSourceOptions } from './http.js';
import { memorySource } from './memory.js';
import type { ReadableFile, SourceInput } from './types.js';

export type { ReadableFile, RandomAccessSource, SourceInput } from './types.js';
export { memorySource } from './memory.js';
export { blobSource } from './blob.js';
export { httpSource } from './http.js';
export type { HttpSourceOptions } from './http.js';

/** True for a caller's own `{ size, read }` source. */
export function isRandomAccessSource(x: unknown): x is ReadableFile {
  return (
    typeof x === 'object' && x !== null && typeof (x as ReadableFile).read === 'function' && typeof (x as ReadableFile).size === 'number'
  );
}

/**
 * Opens `input` for random access: bytes, a Blob/File, an http(s) URL (Range
 * requests) or a `{ size, read }` source. The caller closes it when done.
 * @throws VhdxError `INVALID_ARGUMENT` (`unsupported-source`) for anything else,
 *   such as a file path (use `vhdx-stream/node`); the http source's errors for URLs.
 */
export async function openSource(input: SourceInput, http: HttpSourceOptions = {}): Promise<ReadableFile> {
  if (input instanceof Uint8Array) return memorySource(input);
  if (input instanceof ArrayBuffer) return memorySource(new Uint8Array(input));
  if (typeof Blob !== 'undefined' && input instanceof Blob) return blobSource(input);
  if (input instanceof URL && input.protocol !== 'http:' && input.protocol !== 'https:') {
    throw new VhdxError(
      'unsupported-source',
      `unsupported source: ${input.protocol} URLs cannot be read here${input.protocol === 'file:' ? "; file: URLs need the Node entry, 'vhdx-stream/node'" : ''}`,
    );
  }
  if (input instanceof URL || (typeof input === 'string' && isHttpUrl(input))) {
    return httpSource(String(input), http);
  }
  if (isRandomAccessSource(input)) return input;
  const hint = typeof input === 'string' ? `: "${input}" is not an http(s) URL; file paths need the Node entry, 'vhdx-stream/node'` : '';
  throw new VhdxError('unsupported-source', `unsupported source${hint}; pass bytes, a Blob, a URL or { size, read(offset, length) }`);
}
