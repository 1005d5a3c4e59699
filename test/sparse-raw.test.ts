// The one sparse raw output: every all-zero 64 KiB grain of the disk stays a
// hole, whatever the chunking, and the file reads back as the disk.
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOLE_GRAIN } from '../src/layout/sparse.js';
import { SparseRawOutput } from '../src/node/sparse-raw.js';
import { ready } from '../src/wasm/instance.js';
import { sha256, tempDir } from './helpers/tools.js';

const dir = tempDir('vhdx-sparse-raw-');
afterAll(() => dir.cleanup());
beforeAll(() => ready());

/** 4 MiB: data in grains 1, 5 and 40 (one byte each), the rest zero. */
function disk(): Uint8Array {
  const bytes = new Uint8Array(4 * 1024 * 1024);
  for (const grain of [1, 5, 40]) bytes[grain * HOLE_GRAIN + 100] = grain;
  return bytes;
}

async function writeThrough(path: string, bytes: Uint8Array, chunkSize: number): Promise<number> {
  const fh = await open(path, 'w');
  try {
    const out = new SparseRawOutput(fh);
    const pending: Promise<unknown>[] = [];
    let written = 0;
    for (let at = 0; at < bytes.length; at += chunkSize) written += out.place(bytes.subarray(at, at + chunkSize), at, pending);
    await Promise.all(pending);
    await out.finish(bytes.length);
    return written;
  } finally {
    await fh.close();
  }
}

describe('SparseRawOutput', () => {
  it.each([4 * 1024 * 1024, 100_000, 4096 + 3])('chunks of %i bytes: same bytes, only the data grains written', async (chunkSize) => {
    const bytes = disk();
    const path = join(dir.path, `out-${chunkSize}.raw`);
    const written = await writeThrough(path, bytes, chunkSize);
    expect(sha256(readFileSync(path))).toBe(sha256(bytes));
    // grains are aligned to the disk, so each data byte costs at most one grain
    expect(written).toBeLessThanOrEqual(3 * HOLE_GRAIN);
    expect(written).toBeGreaterThan(0);
    expect(statSync(path).blocks * 512).toBeLessThanOrEqual(3 * HOLE_GRAIN + 64 * 1024);
  });

  it('a failed write rejects with reason write-failed and the given context', async () => {
    const fd = openSync(join(dir.path, 'ro.raw'), 'w');
    closeSync(fd);
    const fh = await open(join(dir.path, 'ro.raw'), 'r'); // writes fail: EBADF
    try {
      const pending: Promise<unknown>[] = [];
      new SparseRawOutput(fh, 'cannot write ro.raw').place(new Uint8Array(10).fill(1), 0, pending);
      await expect(Promise.all(pending)).rejects.toMatchObject({
        code: 'IO',
        reason: 'write-failed',
        message: expect.stringMatching(/^cannot write ro.raw: /),
      });
    } finally {
      await fh.close();
    }
  });
});
