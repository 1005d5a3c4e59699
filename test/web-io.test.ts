// The converter page's byte plumbing (web/src), run in Node: the chunk reader
// that feeds raw -> VHDX (reused buffers, BYOB or slices, one read ahead) and
// the data runs that VHDX -> raw writes into a file sized with zeros.
import { describe, expect, it } from 'vitest';
import { init } from 'vhdx-stream';
import { inputChunks } from '../web/src/chunks.js';
import { rawToVhdxSeekable } from '../web/src/convert.js';
import { HOLE_GRAIN, dataRuns } from '../web/src/holes.js';

const MiB = 1024 * 1024;

function patterned(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 13)) & 0xff;
  return bytes;
}

/** Every chunk copied out (the buffers are reused), with the buffers they came in. */
async function collect(chunks: AsyncIterable<Uint8Array>) {
  const parts: Uint8Array[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for await (const chunk of chunks) {
    parts.push(chunk.slice());
    buffers.add(chunk.buffer);
  }
  return { bytes: Buffer.concat(parts), sizes: parts.map((p) => p.length), buffers };
}

/** A Blob whose stream() is not a byte stream (no BYOB reader), as in browsers that lack one. */
class PlainStreamBlob extends Blob {
  override stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    const inner = super.stream().getReader();
    return new ReadableStream({ pull: async (c) => void ((r) => (r.done ? c.close() : c.enqueue(r.value)))(await inner.read()) });
  }
}

/** A Blob whose byte streams hand out 256 KiB pieces and stop answering after `serve` bytes (as Chromium's BYOB reads of a File now and then do). */
class StallingBlob extends Blob {
  constructor(
    parts: BlobPart[],
    private readonly serve: number,
    readonly opened = { streams: 0 },
    private readonly slicesStall = false,
  ) {
    super(parts);
  }

  override slice(start?: number, end?: number): Blob {
    const part = super.slice(start, end);
    return this.slicesStall ? new StallingBlob([part], this.serve, this.opened, true) : part;
  }

  override stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    this.opened.streams++;
    const bytes = this.arrayBuffer().then((b) => new Uint8Array(b));
    let served = 0;
    return new ReadableStream({
      type: 'bytes',
      pull: async (c) => {
        const all = await bytes;
        if (served >= all.length) return c.close();
        if (served >= this.serve) return new Promise<void>(() => {}); // never settles
        c.enqueue(all.slice(served, served + 256 * 1024));
        served += 256 * 1024;
      },
    }) as ReadableStream<Uint8Array<ArrayBuffer>>;
  }
}

describe('inputChunks (web/src/chunks.ts)', () => {
  const data = patterned(5 * MiB + 1000);

  it('a Blob through a BYOB reader: whole chunks, the last shorter, the same bytes', async () => {
    const { bytes, sizes } = await collect(inputChunks(new Blob([data]), 2 * MiB));
    expect(sizes).toEqual([2 * MiB, 2 * MiB, MiB + 1000]);
    expect(bytes.equals(data)).toBe(true);
  });

  it('a Blob whose stream has no BYOB reader is read as slices, with the same chunks', async () => {
    const blob = new PlainStreamBlob([data]);
    expect(() => blob.stream().getReader({ mode: 'byob' })).toThrow(TypeError);
    const { bytes, sizes } = await collect(inputChunks(blob, 2 * MiB));
    expect(sizes).toEqual([2 * MiB, 2 * MiB, MiB + 1000]);
    expect(bytes.equals(data)).toBe(true);
  });

  it('a BYOB stream that stalls is cancelled and the File read on from the chunk through a new one; slices after three', async () => {
    // stalls inside the second chunk: read on from 2 MiB through a stream of a plain slice
    const once = new StallingBlob([data], 3 * MiB);
    const first = await collect(inputChunks(once, 2 * MiB, 20));
    expect(first.bytes.equals(data)).toBe(true);
    expect(first.sizes).toEqual([2 * MiB, 2 * MiB, MiB + 1000]);
    expect(once.opened.streams).toBe(1);
    // every stream stalls: three more, then slices
    const always = new StallingBlob([data], MiB / 2, { streams: 0 }, true);
    const last = await collect(inputChunks(always, 2 * MiB, 20));
    expect(last.bytes.equals(data)).toBe(true);
    expect(last.sizes).toEqual([2 * MiB, 2 * MiB, MiB + 1000]);
    expect(always.opened.streams).toBe(4);
  });

  it('a source with readInto reuses two buffers; one with read only is copied into them; empty inputs give no chunk', async () => {
    const source = { size: data.length, read: async (o: number, n: number) => data.slice(o, o + n) };
    const viaRead = await collect(inputChunks(source, MiB));
    const readInto = async (t: Uint8Array, o: number) => {
      const bytes = data.subarray(o, o + t.length);
      t.set(bytes);
      return bytes.length;
    };
    const viaReadInto = await collect(inputChunks({ ...source, readInto }, MiB));
    for (const got of [viaRead, viaReadInto]) {
      expect(got.bytes.equals(data)).toBe(true);
      expect(got.sizes).toEqual([MiB, MiB, MiB, MiB, MiB, 1000]);
      expect(got.buffers.size).toBe(2);
    }
    expect((await collect(inputChunks(new Blob([]), MiB))).sizes).toEqual([]);
    expect((await collect(inputChunks({ size: 0, read: source.read }, MiB))).sizes).toEqual([]);
  });

  it('an input shorter than its size errors; breaking out cancels the Blob read', async () => {
    const short = { size: 3 * MiB, read: async (o: number, n: number) => data.slice(o, Math.min(o + n, 2 * MiB)) };
    await expect(collect(inputChunks(short, MiB))).rejects.toThrow('the input ended early, at 2097152 of 3145728 bytes');
    let cancelled = false;
    const blob = new Blob([data]);
    const stream = blob.stream();
    const watched = Object.assign(blob, {
      stream: () =>
        new ReadableStream({
          type: 'bytes',
          pull: (c) => pump(c),
          cancel: () => {
            cancelled = true;
          },
        }) as ReadableStream<Uint8Array<ArrayBuffer>>,
    });
    const reader = stream.getReader();
    const pump = async (c: ReadableByteStreamController) => {
      const r = await reader.read();
      if (r.done) c.close();
      else c.enqueue(r.value);
    };
    for await (const chunk of inputChunks(watched, MiB)) {
      expect(chunk.length).toBe(MiB);
      break;
    }
    expect(cancelled).toBe(true);
  });
});

describe('dataRuns (web/src/holes.ts)', () => {
  it('joins non-zero grains aligned to the disk into runs and leaves zero grains out', async () => {
    await init();
    const bytes = new Uint8Array(8 * HOLE_GRAIN);
    bytes[10] = 1; // grain 0 (disk offset 1000 + 10)
    bytes[HOLE_GRAIN] = 2; // the disk's grain 1 (the piece starts 1000 bytes into grain 0): joined to the first run
    bytes[5 * HOLE_GRAIN] = 3;
    bytes[8 * HOLE_GRAIN - 1] = 4; // the piece's last byte
    const first = HOLE_GRAIN - 1000; // where the disk's next grain starts in `bytes`
    expect(dataRuns(bytes, 1000)).toEqual([
      [0, first + HOLE_GRAIN],
      [first + 4 * HOLE_GRAIN, first + 5 * HOLE_GRAIN],
      [first + 7 * HOLE_GRAIN, 8 * HOLE_GRAIN],
    ]);
    expect(dataRuns(new Uint8Array(3 * HOLE_GRAIN), 0)).toEqual([]);
    expect(dataRuns(bytes.subarray(0, 100), 0)).toEqual([[0, 100]]);
  });
});

describe('a conversion whose input reads are synchronous (an OPFS access handle)', () => {
  it('still lets a Cancel in: the abort, queued as a task, stops it long before the end', async () => {
    await init();
    const size = 64 * 1024 * MiB; // zeros: nothing is stored, but every byte is read and checked
    let read = 0;
    // settles at once, as a sync access handle's read does: only microtasks run between chunks
    const source = {
      size,
      read: async (offset: number, length: number) => new Uint8Array(Math.max(0, Math.min(length, size - offset))),
      readInto: async (target: Uint8Array) => {
        target.fill(0);
        read += target.length;
        return target.length;
      },
    };
    let written = 0;
    const handle = {
      getSize: () => written,
      write: (data: Uint8Array) => data.length,
      truncate(n: number) {
        written = n;
      },
      flush() {},
      close() {},
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new DOMException('cancelled by the user', 'AbortError')), 50);
    const outcome = await rawToVhdxSeekable(source, handle, { signal: controller.signal, onProgress: () => {} }).then(
      () => 'finished',
      (err: Error) => err.name,
    );
    expect(outcome).toBe('AbortError');
    // without a turn of the event loop between chunks the abort would only be seen after all 64 GiB
    expect(read).toBeLessThan(size / 8);
  }, 120_000);
});
