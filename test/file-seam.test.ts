// The file seam: every kind of file an editor may change in place opens with
// both halves; inputs without a writing half are refused with one reason.
import { pbkdf2 } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VhdxError } from '../src/errors.js';
import { SYNC_WRITE_LIMIT, fileHandleFileOf, openNodeWritableFile } from '../src/node/file.js';
import type { RandomAccessFile, SyncAccessHandleLike } from '../src/sources/types.js';
import { openWritableFile } from '../src/sources/writable.js';
import { tempDir } from './helpers/tools.js';

function reasonOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return err instanceof VhdxError ? err.reason : `not a VhdxError: ${String(err)}`;
  }
  return undefined;
}

/** An in-memory access handle shaped like OPFS's. */
function fakeHandle(initial: Uint8Array): SyncAccessHandleLike & { bytes: Uint8Array; flushes: number } {
  const h = {
    bytes: initial,
    flushes: 0,
    getSize: () => h.bytes.length,
    read(buffer: Uint8Array, { at }: { at: number }) {
      const piece = h.bytes.subarray(at, at + buffer.length);
      buffer.set(piece);
      return piece.length;
    },
    write(data: Uint8Array, { at }: { at: number }) {
      if (at + data.length > h.bytes.length) {
        const grown = new Uint8Array(at + data.length);
        grown.set(h.bytes);
        h.bytes = grown;
      }
      h.bytes.set(data, at);
      return data.length;
    },
    truncate(size: number) {
      const next = new Uint8Array(size);
      next.set(h.bytes.subarray(0, size));
      h.bytes = next;
    },
    flush() {
      h.flushes++;
    },
    close() {},
  };
  return h;
}

/** Byte-for-byte equality (toEqual on arrays of 100 KiB and more takes seconds). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

async function exercise(file: RandomAccessFile): Promise<Uint8Array> {
  await file.write(new Uint8Array([1, 2, 3]), 2);
  await file.truncate(8);
  await file.flush();
  return file.read(0, 8);
}

describe('opening a file to change it in place', () => {
  it('refuses bytes, Blobs, URLs and read-only sources, naming what is missing', () => {
    expect(reasonOf(() => openWritableFile(new Uint8Array(4)))).toBe('source-not-writable');
    expect(reasonOf(() => openWritableFile(new Blob([new Uint8Array(4)])))).toBe('source-not-writable');
    expect(reasonOf(() => openWritableFile('https://example.com/disk.vhdx'))).toBe('source-not-writable');
    expect(reasonOf(() => openWritableFile({ size: 4, read: async () => new Uint8Array(4) }))).toBe('source-not-writable');
    try {
      openWritableFile({ size: 4, read: async () => new Uint8Array(4), write() {} });
    } catch (err) {
      expect((err as VhdxError).message).toContain('without truncate, flush');
      expect((err as VhdxError).code).toBe('INVALID_ARGUMENT');
    }
  });

  it("a caller's own file: both halves pass through, plain results as promised ones", async () => {
    const h = fakeHandle(new Uint8Array(4).fill(9));
    let flushed = 0;
    const custom = {
      get size() {
        return h.bytes.length;
      },
      read: (offset: number, length: number) => h.bytes.slice(offset, offset + length),
      write: (data: Uint8Array, position: number) => h.write(data, { at: position }),
      truncate: (size: number) => h.truncate(size),
      flush: () => void flushed++,
    };
    const file = openWritableFile(custom);
    expect(file.size).toBe(4);
    expect([...(await exercise(file))]).toEqual([9, 9, 1, 2, 3, 0, 0, 0]);
    expect(flushed).toBe(1);
  });

  it('an OPFS access handle: reads, writes, resizes and flushes through the handle', async () => {
    const h = fakeHandle(new Uint8Array(4).fill(7));
    const file = openWritableFile(h);
    expect([...(await exercise(file))]).toEqual([7, 7, 1, 2, 3, 0, 0, 0]);
    expect(h.flushes).toBe(1);
    const into = new Uint8Array(3);
    expect(await file.readInto!(into, 6)).toBe(2);
  });

  it('an access handle that cannot resize is an IO error, not silent success', async () => {
    const h = fakeHandle(new Uint8Array(4));
    h.truncate = () => {};
    await expect(openWritableFile(h).truncate(16)).rejects.toMatchObject({ reason: 'write-failed' });
  });
});

describe('Node files changed in place', () => {
  it('a path opens for reading and writing, keeping its bytes; a missing path is not created', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'f.bin');
      writeFileSync(path, new Uint8Array(4).fill(5));
      const file = await openNodeWritableFile(path);
      expect(file.size).toBe(4);
      expect([...(await exercise(file))]).toEqual([5, 5, 1, 2, 3, 0, 0, 0]);
      await file.close();
      expect([...readFileSync(path)]).toEqual([5, 5, 1, 2, 3, 0, 0, 0]);

      const missing = join(dir.path, 'missing.vhdx');
      await expect(openNodeWritableFile(missing)).rejects.toMatchObject({ reason: 'open-failed' });
      expect(existsSync(missing)).toBe(false);
      await expect(openNodeWritableFile('https://example.com/x.vhdx')).rejects.toMatchObject({ reason: 'source-not-writable' });
    } finally {
      dir.cleanup();
    }
  });

  it("a FileHandle stays the caller's: closing the file leaves it open", async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'f.bin');
      writeFileSync(path, new Uint8Array(2));
      const fh = await open(path, 'r+');
      const file = await fileHandleFileOf(fh, false);
      await file.write(new Uint8Array([4]), 0);
      await file.close();
      const { bytesRead } = await fh.read(new Uint8Array(2), 0, 2, 0);
      expect(bytesRead).toBe(2);
      await fh.close();
    } finally {
      dir.cleanup();
    }
  });

  it('a write of at most syncWriteLimit bytes has reached the file when write() returns, even while the thread pool is busy (before: it waited behind the pool)', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'f.bin');
      writeFileSync(path, new Uint8Array(SYNC_WRITE_LIMIT + 8));
      const file = await openNodeWritableFile(path);
      // every thread of the pool busy for a while (pbkdf2 runs there)
      const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
      const busy = Array.from({ length: threads }, () => new Promise((resolve) => pbkdf2('x', 'y', 200_000, 32, 'sha256', resolve)));
      const pending = file.write(new Uint8Array(SYNC_WRITE_LIMIT).fill(3), 8);
      const seen = readFileSync(path);
      expect([seen[7], seen[8], seen[SYNC_WRITE_LIMIT + 7]]).toEqual([0, 3, 3]);
      await pending;
      await Promise.all(busy);
      await file.close();
    } finally {
      dir.cleanup();
    }
  });

  it('small writes on the calling thread and large ones through the pool, mixed with reads started at once, truncates and flushes: the bytes of a model, whatever the limit', async () => {
    const dir = tempDir();
    try {
      const results: Uint8Array[] = [];
      for (const syncWriteLimit of [undefined, 0, 4096]) {
        const path = join(dir.path, `f${syncWriteLimit}.bin`);
        const size = 4 * SYNC_WRITE_LIMIT;
        writeFileSync(path, new Uint8Array(size).fill(1));
        const file = await openNodeWritableFile(path, syncWriteLimit === undefined ? {} : { syncWriteLimit });
        let model = new Uint8Array(size).fill(1);
        let seed = 7;
        const next = (n: number) => {
          seed = (seed * 1103515245 + 12345) >>> 0;
          return seed % n;
        };
        for (let i = 0; i < 60; i++) {
          // 1 byte .. twice the default limit, anywhere in the file (growing it at times)
          const length = 1 + next(i % 3 === 0 ? 2 * SYNC_WRITE_LIMIT : 8192);
          const position = next(size);
          const data = new Uint8Array(length).fill(i + 2);
          if (position + length > model.length) {
            const grown = new Uint8Array(position + length);
            grown.set(model);
            model = grown;
          }
          model.set(data, position);
          await file.write(data, position);
          // a read started straight after the write (a flush in flight beside it): it sees the write
          const back = file.read(position, length);
          const flushed = i % 10 === 9 ? file.flush() : undefined;
          expect(same(await back, model.slice(position, position + length))).toBe(true);
          await flushed;
          if (i === 30) {
            await file.truncate(size);
            model = model.slice(0, size);
          }
        }
        // writes at distinct positions in flight at once (concurrentWrites): small and large together
        const writes = [0, 1, 2, 3].map((k) => new Uint8Array(k % 2 ? 2 * SYNC_WRITE_LIMIT : 512).fill(0x80 + k));
        let at = 0;
        const placed = writes.map((w) => {
          const p = at;
          at += w.length + 100;
          model.set(w, p);
          return p;
        });
        expect(file.concurrentWrites).toBe(true);
        await Promise.all(writes.map((w, k) => file.write(w, placed[k]!)));
        await file.flush();
        expect(file.size).toBe(model.length);
        expect(same(await file.read(0, model.length), model)).toBe(true);
        await file.close();
        expect(same(readFileSync(path), model)).toBe(true);
        results.push(model);
      }
      expect(same(results[1]!, results[0]!) && same(results[2]!, results[0]!)).toBe(true);
    } finally {
      dir.cleanup();
    }
  });

  it('a syncWriteLimit that is not a byte count is refused with invalid-option, before the file is opened', async () => {
    for (const syncWriteLimit of [-1, 1.5, Number.NaN, 2 ** 31]) {
      await expect(openNodeWritableFile('/nonexistent/x.vhdx', { syncWriteLimit })).rejects.toMatchObject({
        reason: 'invalid-option',
      });
    }
  });
});
