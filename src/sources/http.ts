// HTTP(S) Range reads through fetch. The size comes from the Content-Range of
// a one-byte probe; a server that answers 200 to a Range request cannot be
// read at random offsets, and we say so rather than download everything.
import { VhdxError } from '../errors.js';
import type { ReadableFile } from './types.js';

/** How http(s) URLs are read (options of `openVhdx`, `checkVhdx` and `scanAllocation` too). */
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
    const text = err instanceof Error ? err.message : String(err);
    throw new VhdxError('request-failed', `request to ${url} failed: ${text}`, { structure: 'source', offset: start, cause: err });
  }
  if (res.status === 200) {
    await res.body?.cancel();
    const advice = 'download it first or stream it through VhdxDecoderStream';
    throw new VhdxError('range-not-supported', `${url} ignores Range requests (answered 200, not 206); ${advice}`, { structure: 'source' });
  }
  if (res.status !== 206) {
    await res.body?.cancel();
    const message = `${url} answered ${res.status} ${res.statusText} to a Range request`;
    throw new VhdxError('http-status', message, { structure: 'source', offset: start });
  }
  return res;
}

/** True for an http or https URL: the one kind of location every entry fetches (any case). */
export function isHttpUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

/**
 * A source reading `url` with HTTP Range requests; a one-byte probe learns the size.
 * @throws VhdxError (from the probe and from each read) `request-failed` when fetch throws,
 * `range-not-supported` for a 200 answer, `http-status` for any status but 206,
 * `http-no-size` when Content-Range has no total size, `http-short-body` for a body of the wrong length.
 */
export async function httpSource(url: string, options: HttpSourceOptions = {}): Promise<ReadableFile> {
  const probe = await rangeRequest(url, 0, 0, options);
  const range = probe.headers.get('content-range') ?? '';
  await probe.arrayBuffer();
  const match = /\/(\d+)\s*$/.exec(range);
  if (!match) throw new VhdxError('http-no-size', `${url} sent no total size in Content-Range ("${range}")`, { structure: 'source' });
  const size = Number(match[1]);
  return {
    size,
    async read(offset, length) {
      const end = Math.min(size, offset + length) - 1;
      if (end < offset) return new Uint8Array(0);
      const res = await rangeRequest(url, offset, end, options);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.length !== end - offset + 1) {
        throw new VhdxError('http-short-body', `${url} returned ${bytes.length} bytes for a ${end - offset + 1}-byte range at ${offset}`, {
          structure: 'source',
          offset,
        });
      }
      return bytes;
    },
  };
}
