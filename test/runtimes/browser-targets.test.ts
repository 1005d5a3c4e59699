// OPFS access handles that fail without throwing. Chromium's in-memory OPFS
// (incognito profiles) answers a write it cannot make with a byte count of
// 2^32 - 8 (an error code read as unsigned) and ignores a resize, where a
// QuotaExceededError is due; seen with Chromium 156 once about 1.5 GB were
// stored. VhdxWriterStream must error instead of writing a damaged VHDX.
// (Node-side: the fakes below behave as the handle was observed to.)
import { describe, expect, it } from 'vitest';
import { VhdxError, VhdxWriterStream, type SyncAccessHandleLike } from '../../src/index.js';

const MiB = 1024 * 1024;

/** An in-memory access handle that works until `limit` bytes are stored, then fails the way Chromium's does. */
function failingHandle(limit: number, initial = 0) {
  let bytes = new Uint8Array(initial);
  const state = { closed: false, ignoreResize: false };
  const handle: SyncAccessHandleLike = {
    getSize: () => bytes.length,
    write(data, { at }) {
      if (at + data.length > limit) return 2 ** 32 - 8;
      if (at + data.length > bytes.length) {
        const grown = new Uint8Array(at + data.length);
        grown.set(bytes);
        bytes = grown;
      }
      bytes.set(data, at);
      return data.length;
    },
    truncate(size) {
      if (state.ignoreResize) return;
      const next = new Uint8Array(size);
      next.set(bytes.subarray(0, Math.min(size, bytes.length)));
      bytes = next;
    },
    flush() {},
    close() {
      state.closed = true;
    },
  };
  return { handle, state };
}

function rawStream(size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= size) return c.close();
      c.enqueue(new Uint8Array(MiB).fill(0xa5));
      at += MiB;
    },
  });
}

async function failure(sink: VhdxWriterStream, input: ReadableStream<Uint8Array>): Promise<VhdxError> {
  await expect(input.pipeTo(sink)).rejects.toThrow();
  const err = await sink.result.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(VhdxError);
  return err as VhdxError;
}

describe('OPFS access handles that report failure as success', () => {
  it('a write answered with 2^32 - 8 bytes errors the writer with IO write-failed', async () => {
    const { handle, state } = failingHandle(6 * MiB);
    const err = await failure(new VhdxWriterStream(handle, { blockSize: MiB }), rawStream(16 * MiB));
    expect([err.code, err.reason]).toEqual(['IO', 'write-failed']);
    expect(err.message).toMatch(/4294967288 bytes written/);
    expect(state.closed).toBe(true);
  });

  it('a write answered with 0 bytes errors instead of looping', async () => {
    const { handle } = failingHandle(Number.POSITIVE_INFINITY);
    const write = handle.write.bind(handle);
    handle.write = (data, at) => (at.at >= 3 * MiB ? 0 : write(data, at));
    const err = await failure(new VhdxWriterStream(handle, { blockSize: MiB }), rawStream(8 * MiB));
    expect([err.code, err.reason]).toEqual(['IO', 'write-failed']);
  });

  it('a resize that does not happen (an old 5 MiB file left in place) errors with IO write-failed', async () => {
    const { handle, state } = failingHandle(Number.POSITIVE_INFINITY, 5 * MiB);
    state.ignoreResize = true;
    const err = await failure(new VhdxWriterStream(handle, { blockSize: MiB }), rawStream(4 * MiB));
    expect([err.code, err.reason]).toEqual(['IO', 'write-failed']);
    expect(err.message).toMatch(/holds 5242880 bytes after resizing to 0/);
  });

  it('a handle that behaves converts as before', async () => {
    const { handle } = failingHandle(Number.POSITIVE_INFINITY);
    const sink = new VhdxWriterStream(handle, { blockSize: MiB });
    await rawStream(4 * MiB).pipeTo(sink);
    expect((await sink.result).fileSize).toBe(handle.getSize());
  });
});
