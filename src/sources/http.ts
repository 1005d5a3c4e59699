// HTTP(S) Range reads through fetch. The size comes from the Content-Range of
// a one-byte probe; a server that answers 200 to a Range request cannot be
// read at random offsets, and we say so rather than download everything.
import { VhdxError } from '../errors.js';
import type { RandomAccessSource } from './types.js';

export interface HttpSourceOptions {
  /** Extra request headers (authorization, ...). */
  headers?: Record<string, string>;
  /** Aborts every request. */
  signal?: AbortSignal;
  /** fetch implementation (defaults to globalThis.fetch). */
  fetch?: typeof fetch;
}

async function rangeRequest(url: string, start: number, end: number, o: HttpSourceOptions): Promise<Response> {
  const doFetch = o.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await doFetch(url, {
      headers: { ...o.headers, Range: `bytes=${start}-${end}` },
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (err) {
    throw new VhdxError('IO', `request to ${url} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (res.status === 200) {
    await res.body?.cancel();
    throw new VhdxError('UNSUPPORTED', `${url} ignores Range requests (answered 200, not 206); download it first or stream it through VhdxDecoderStream`);
  }
  if (res.status !== 206) {
    await res.body?.cancel();
    throw new VhdxError('IO', `${url} answered ${res.status} ${res.statusText} to a Range request`);
  }
  return res;
}

export async function httpSource(url: string, options: HttpSourceOptions = {}): Promise<RandomAccessSource> {
  const probe = await rangeRequest(url, 0, 0, options);
  const range = probe.headers.get('content-range') ?? '';
  await probe.arrayBuffer();
  const match = /\/(\d+)\s*$/.exec(range);
  if (!match) throw new VhdxError('IO', `${url} sent no total size in Content-Range ("${range}")`);
  const size = Number(match[1]);
  return {
    size,
    async read(offset, length) {
      const end = Math.min(size, offset + length) - 1;
      if (end < offset) return new Uint8Array(0);
      const res = await rangeRequest(url, offset, end, options);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.length !== end - offset + 1) {
        throw new VhdxError('IO', `${url} returned ${bytes.length} bytes for a ${end - offset + 1}-byte range at ${offset}`);
      }
      return bytes;
    },
  };
}
