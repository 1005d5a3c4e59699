// Turns any supported input into a RandomAccessSource. Node-only sources are
// imported lazily so that browser and edge bundles never load node:fs.
import { VhdxError } from '../errors.js';
import { blobSource } from './blob.js';
import { httpSource, type HttpSourceOptions } from './http.js';
import { memorySource } from './memory.js';
import type { RandomAccessSource, SourceInput } from './types.js';

export type { RandomAccessSource, SourceInput } from './types.js';
export { memorySource } from './memory.js';
export { blobSource } from './blob.js';
export { httpSource } from './http.js';
export type { HttpSourceOptions } from './http.js';

function isRandomAccessSource(x: unknown): x is RandomAccessSource {
  return typeof x === 'object' && x !== null && typeof (x as RandomAccessSource).read === 'function' && typeof (x as RandomAccessSource).size === 'number';
}

function isFileHandle(x: unknown): x is import('node:fs/promises').FileHandle {
  return typeof x === 'object' && x !== null && typeof (x as { fd?: unknown }).fd === 'number' && typeof (x as { stat?: unknown }).stat === 'function';
}

/** Opens `input` for random access. The caller closes it when done. */
export async function openSource(input: SourceInput, http: HttpSourceOptions = {}): Promise<RandomAccessSource> {
  if (input instanceof Uint8Array) return memorySource(input);
  if (input instanceof ArrayBuffer) return memorySource(new Uint8Array(input));
  if (typeof Blob !== 'undefined' && input instanceof Blob) return blobSource(input);
  if (input instanceof URL || (typeof input === 'string' && /^https?:\/\//i.test(input))) {
    return httpSource(String(input), http);
  }
  if (typeof input === 'string') {
    const { pathSource } = await import('../node/file-source.js');
    return pathSource(input);
  }
  if (isFileHandle(input)) {
    const { fileHandleSource } = await import('../node/file-source.js');
    return fileHandleSource(input, false);
  }
  if (isRandomAccessSource(input)) return input;
  throw new VhdxError('INVALID_ARGUMENT', 'unsupported source: pass bytes, a Blob, a path, a URL, a FileHandle or { size, read(offset, length) }');
}
