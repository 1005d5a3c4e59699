// Write batching (positional writer, stdout) and the zero-copy stdin adapter.
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WriteBatch } from '../src/streams/write-batch.js';
import { readableToWeb } from '../src/node/web-readable.js';
import { pseudoRandomBytes } from './helpers/reference.js';

/** Applies writes to a growing file and counts them. */
function recorder() {
  const file = new Uint8Array(1 << 22);
  const sizes: number[] = [];
  return {
    file,
    sizes,
    async write(data: Uint8Array, position: number) {
      sizes.push(data.length);
      file.set(data, position);
      await new Promise((r) => setTimeout(r, 0));
      data.fill(0xee); // the batch must not rely on data after the write settled
    },
  };
}

describe('WriteBatch', () => {
  it('gathers back-to-back small writes into full buffers and ends with the same bytes', async () => {
    const src = pseudoRandomBytes(3 << 20, 5);
    const rec = recorder();
    const batch = new WriteBatch(rec.write, 1 << 20);
    for (let at = 0; at < src.length; at += 65536) await batch.add(src.slice(at, at + 65536), at);
    await batch.flush();
    expect(rec.sizes).toEqual([1 << 20, 1 << 20, 1 << 20]);
    expect(Buffer.compare(rec.file.subarray(0, src.length), src)).toBe(0);
  });

  it('flushes on a gap, passes large pieces straight through, and keeps every byte', async () => {
    const rec = recorder();
    const want = new Uint8Array(rec.file.length);
    const batch = new WriteBatch(rec.write, 1 << 16);
    const pieces: [number, number][] = [
      [0, 1000], [1000, 3000], [10000, 500], // a gap after 4000
      [10500, 40000], [50500, 30000], // the second does not fit: flush, then start over
      [200000, 1 << 16], // large: written as it is
      [200000 + (1 << 16), 7], [300000, 1],
    ];
    let seed = 1;
    for (const [position, length] of pieces) {
      const data = pseudoRandomBytes(length, seed++);
      want.set(data, position);
      await batch.add(data.slice(), position);
    }
    await batch.flush();
    expect(Buffer.compare(rec.file, want)).toBe(0);
    expect(rec.sizes).toEqual([4000, 40500, 30000, 1 << 16, 7, 1]);
  });
});

describe('readableToWeb', () => {
  it('hands on chunks that own their memory and copies views into a shared pool', async () => {
    const owned = new Uint8Array(new ArrayBuffer(64));
    owned.fill(1);
    const pooled = Buffer.from('pooled bytes'); // a view into Node's Buffer pool
    const reader = readableToWeb(Readable.from([owned, pooled], { objectMode: false })).getReader();
    const first = await reader.read();
    const second = await reader.read();
    expect(first.value!.buffer).toBe(owned.buffer); // the same memory, not a copy
    expect(second.value).not.toBe(pooled);
    expect(second.value!.buffer).not.toBe(pooled.buffer);
    expect(Buffer.from(second.value!).toString()).toBe('pooled bytes');
    expect((await reader.read()).done).toBe(true);
  });

  it('pauses the source at the high-water mark and resumes as it is read', async () => {
    const source = new PassThrough();
    const stream = readableToWeb(source, 4096);
    for (let i = 0; i < 8; i++) source.write(new Uint8Array(new ArrayBuffer(1024)));
    await new Promise((r) => setTimeout(r, 20));
    expect(source.isPaused()).toBe(true);
    const reader = stream.getReader();
    let total = 0;
    source.end();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.length;
    }
    expect(total).toBe(8 * 1024);
  });

  it('passes a source error on, and cancelling destroys the source', async () => {
    const failing = new PassThrough();
    const reader = readableToWeb(failing).getReader();
    failing.destroy(new Error('disk gone'));
    await expect(reader.read()).rejects.toThrow('disk gone');

    const source = new PassThrough();
    const r2 = readableToWeb(source).getReader();
    await r2.cancel();
    expect(source.destroyed).toBe(true);
  });
});
