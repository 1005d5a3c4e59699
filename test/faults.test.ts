// Stream faults, interrupted writers, full disks, concurrency, and inputs
// built to loop or amplify.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VhdxDecoderStream, VhdxEncoderStream, VhdxError, openVhdx, scanAllocation } from '../src/node/index.js';
import * as format from '../src/format/index.js';
import { dataView } from '../src/format/bytes.js';
import { chunkedStream, collect, makeRaw } from './helpers/images.js';
import { applyDirectly, logRegion, makeDirty, type EntrySpec } from './helpers/dirty-log.js';
import { IN_CI, sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const dir = tempDir('vhdx-faults-');
afterAll(() => dir.cleanup());

async function vhdxOf(raw: Uint8Array, options: Record<string, unknown> = {}): Promise<Uint8Array> {
  return collect(chunkedStream(raw).pipeThrough(new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB, ...options })));
}

/** A stream of `file` in 1 MiB chunks that remembers why it was cancelled. */
function trackedSource(file: Uint8Array): { stream: ReadableStream<Uint8Array>; cancelled: () => unknown } {
  let reason: unknown;
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(file.subarray(at, at + MiB));
      at += MiB;
    },
    cancel(r) {
      reason = r;
    },
  });
  return { stream, cancelled: () => reason };
}

/** A stream of `bytes` that errors with `cause` after `after` bytes. */
function failingAfter(bytes: Uint8Array, after: number, cause: unknown): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= after) return c.error(cause);
      const n = Math.min(MiB, after - at, bytes.length - at);
      c.enqueue(bytes.subarray(at, at + n));
      at += n;
    },
  });
}

describe('stream faults', () => {
  const raw = makeRaw(12 * MiB, 'mixed', 2);
  let file: Uint8Array;

  it.each([0, 100, 300 * 1024, 2 * MiB + 5, 5 * MiB, 11 * MiB])(
    'decoder: an input error after %i bytes errors the output with the cause',
    async (after) => {
      file ??= await vhdxOf(raw);
      const cause = new Error(`input died at ${after}`);
      await expect(collect(failingAfter(file, after, cause).pipeThrough(new VhdxDecoderStream()))).rejects.toBe(cause);
    },
  );

  it('decoder and encoder: an AbortSignal stops both sides and cancels the source', async () => {
    file ??= await vhdxOf(raw);
    for (const make of [() => new VhdxDecoderStream(), () => new VhdxEncoderStream({ virtualSize: file.length - (file.length % 512) })]) {
      const source = trackedSource(file);
      const controller = new AbortController();
      const reader = source.stream.pipeThrough(make(), { signal: controller.signal }).getReader();
      await reader.read();
      const reason = new Error('user aborted');
      controller.abort(reason);
      await expect(
        collect(
          new ReadableStream({
            pull: async (c) => {
              const r = await reader.read();
              if (r.done) c.close();
              else c.enqueue(r.value);
            },
          }),
        ),
      ).rejects.toBe(reason);
      expect(source.cancelled()).toBe(reason);
    }
  });

  it('decoder: a consumer that cancels cancels the input', async () => {
    file ??= await vhdxOf(raw);
    const source = trackedSource(file);
    const reader = source.stream.pipeThrough(new VhdxDecoderStream()).getReader();
    await reader.read();
    await reader.cancel('done reading');
    await new Promise((r) => setTimeout(r, 20));
    expect(source.cancelled()).toBe('done reading');
  });

  it('a slow consumer holds memory bounded through encoder and decoder while 1 GiB flows', async () => {
    const size = 1024 * MiB;
    const block = new Uint8Array(MiB).fill(0x41);
    let produced = 0;
    let consumed = 0;
    let maxInFlight = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (produced >= size) return c.close();
          c.enqueue(block);
          produced += MiB;
        },
      },
      { highWaterMark: 0 },
    );
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
    let maxArrayBuffers = 0;
    const out = source.pipeThrough(new VhdxEncoderStream({ virtualSize: size, type: 'fixed' })).pipeThrough(new VhdxDecoderStream());
    let i = 0;
    for await (const chunk of out as unknown as AsyncIterable<Uint8Array>) {
      consumed += chunk.length;
      maxInFlight = Math.max(maxInFlight, produced - consumed);
      if (++i % 64 === 0) {
        await new Promise((r) => setTimeout(r, 1)); // a slow reader
        maxArrayBuffers = Math.max(maxArrayBuffers, process.memoryUsage().arrayBuffers - arrayBuffersBefore);
      }
    }
    expect(consumed).toBe(size);
    // queues of a few MiB on each side plus one block in the decoder
    expect(maxInFlight).toBeLessThan(64 * MiB);
    expect(maxArrayBuffers).toBeLessThan(256 * MiB);
  });
});

describe('interrupted positional writer', () => {
  it.each([2, 20, 60])(
    'a process killed after %i MiB leaves nothing under the output name, and a temporary file that does not open as a VHDX',
    async (killAtMiB) => {
      const out = join(dir.path, `killed-${killAtMiB}.vhdx`);
      const script = `
      import { VhdxWriterStream } from ${JSON.stringify(new URL('../dist/node/index.js', import.meta.url).href)};
      let sent = 0;
      const data = new Uint8Array(1 << 20).fill(7);
      const source = new ReadableStream({ async pull(c) {
        if (sent >= 64) return c.close();
        sent++;
        await new Promise((r) => setTimeout(r, 5));
        c.enqueue(data);
      } });
      await source.pipeTo(new VhdxWriterStream(process.argv[1], { blockSize: 1 << 20, virtualSize: 64 << 20 }));
      console.log('finished');
    `;
      // a path is written under its documented temporary name until the stream closes
      const partial = () => readdirSync(dir.path).find((f) => f.startsWith(`.killed-${killAtMiB}.vhdx.partial-`));
      const partialSize = () => {
        const name = partial();
        try {
          return name === undefined ? -1 : statSync(join(dir.path, name)).size;
        } catch {
          return -1; // renamed into place meanwhile
        }
      };
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, out], { stdio: ['ignore', 'pipe', 'pipe'] });
      let finished = false;
      child.stdout.on('data', (d) => (finished ||= String(d).includes('finished')));
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (partialSize() >= killAtMiB * MiB) {
            child.kill('SIGKILL');
            clearInterval(timer);
            resolve();
          }
        }, 2);
        child.on('exit', () => {
          clearInterval(timer);
          resolve();
        });
      });
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
      if (finished || child.exitCode === 0) {
        // only the last kill point may lose the race against a finishing writer
        expect(killAtMiB).toBe(60);
        return;
      }
      expect(existsSync(out)).toBe(false);
      const bytes = new Uint8Array(readFileSync(join(dir.path, partial()!)));
      expect(format.hasVhdxSignature(bytes)).toBe(false);
      await expect(openVhdx(bytes)).rejects.toMatchObject({ code: 'NOT_VHDX' });
    },
  );
});

describe('the command line with a full or unwritable disk', () => {
  const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
  const rawPath = join(dir.path, 'full.raw');
  writeFileSync(rawPath, makeRaw(8 * MiB, 'data'));
  const cli = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

  it('/dev/full: exit 4, one line, and the device is left alone', () => {
    const r = cli(['convert', rawPath, '/dev/full']);
    expect(r.status).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^vhdx: error\[IO\]: .*ENOSPC/);
    expect(existsSync('/dev/full')).toBe(true);
  });

  it('an unwritable output path: exit 4', () => {
    const target = join(dir.path, 'no', 'such', 'dir', 'x.vhdx');
    const r = cli(['convert', rawPath, target]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/^vhdx: error\[IO\]: /);
    expect(r.stderr).toContain(`cannot create ${target}:`); // the user's path, not a temporary name
  });

  it('a filesystem that fills up: exit 4 and the partial output is removed', () => {
    const mnt = join(dir.path, 'small');
    mkdirSync(mnt);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]).status === 0;
    if (!mounted) {
      if (IN_CI) throw new Error('cannot mount a small tmpfs for the full-disk test');
      console.warn('[faults] skipping the full-filesystem test: mount is not permitted here');
      return;
    }
    try {
      for (const [input, output] of [
        [rawPath, join(mnt, 'out.vhdx')],
        [join(dir.path, 'full.vhdx'), join(mnt, 'out.raw')],
      ] as const) {
        if (input.endsWith('.vhdx')) expect(cli(['convert', rawPath, input]).status).toBe(0);
        const r = cli(['convert', input, output]);
        expect(r.status).toBe(4);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/ENOSPC/);
        expect(existsSync(output)).toBe(false);
      }
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});

describe('resources are released', () => {
  const openFds = () => readdirSync('/proc/self/fd').length;

  it('file handles are closed when opening, decoding or converting fails', async () => {
    const bad = join(dir.path, 'bad.vhdx');
    const good = await vhdxOf(makeRaw(3 * MiB, 'mixed', 8));
    writeFileSync(bad, good.subarray(0, 2 * MiB)); // cut inside the BAT
    const { convertVhdxFileToRaw } = await import('../src/node/index.js');
    const before = openFds();
    for (let i = 0; i < 20; i++) {
      await expect(openVhdx(bad)).rejects.toBeInstanceOf(VhdxError);
      await expect(convertVhdxFileToRaw(bad, join(dir.path, 'bad.raw'))).rejects.toBeInstanceOf(VhdxError);
      await expect(openVhdx(join(dir.path, 'missing.vhdx'))).rejects.toMatchObject({ code: 'IO' });
    }
    expect(openFds()).toBeLessThanOrEqual(before + 1);
  });

  it('a fetch body is cancelled when a server ignores Range', async () => {
    const { createServer } = await import('node:http');
    // an 8 MiB body nobody reads stalls in the socket until the client lets go
    let plainDone = false;
    const server = createServer((_req, res) => {
      res.on('close', () => (plainDone = true));
      res.writeHead(200, { 'content-length': 8 * MiB }).end(Buffer.alloc(8 * MiB, 1));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
    try {
      await expect(openVhdx(`${base}/plain`)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      for (let i = 0; i < 50 && !plainDone; i++) await new Promise((r) => setTimeout(r, 20));
      expect(plainDone).toBe(true);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('concurrency', () => {
  it('sixteen conversions in both directions at once, each identical to running alone', async () => {
    const raws = Array.from({ length: 8 }, (_, i) => makeRaw((3 + i) * MiB + 1024, 'mixed', i + 1));
    const alone = [];
    for (const raw of raws) {
      const v = await collect(
        chunkedStream(raw).pipeThrough(
          new VhdxEncoderStream({
            virtualSize: raw.length,
            blockSize: MiB,
            allocationMap: await scanAllocation(raw, { blockSize: MiB }),
            guids: {
              fileWrite: '11111111-1111-4111-8111-111111111111',
              dataWrite: '22222222-2222-4222-8222-222222222222',
              virtualDisk: '33333333-3333-4333-8333-333333333333',
            },
          }),
        ),
      );
      alone.push({ raw, vhdx: v, vhdxHash: sha256(v) });
    }
    const jobs = alone.flatMap(({ raw, vhdx }) => [
      (async () =>
        sha256(
          await collect(
            chunkedStream(raw, [65536, 100000]).pipeThrough(
              new VhdxEncoderStream({
                virtualSize: raw.length,
                blockSize: MiB,
                allocationMap: await scanAllocation(raw, { blockSize: MiB }),
                guids: {
                  fileWrite: '11111111-1111-4111-8111-111111111111',
                  dataWrite: '22222222-2222-4222-8222-222222222222',
                  virtualDisk: '33333333-3333-4333-8333-333333333333',
                },
              }),
            ),
          ),
        ))(),
      (async () => sha256(await collect(chunkedStream(vhdx, [70000, MiB]).pipeThrough(new VhdxDecoderStream()))))(),
    ]);
    const results = await Promise.all(jobs);
    alone.forEach((a, i) => {
      expect(results[2 * i]).toBe(a.vhdxHash);
      expect(results[2 * i + 1]).toBe(sha256(a.raw));
    });
  });
});

describe('inputs built to loop or amplify', () => {
  const raw = makeRaw(4 * MiB, 'mixed', 5);

  it('a log entry whose tail is itself and spans the whole log ends', async () => {
    const clean = await vhdxOf(raw);
    const log = logRegion(clean);
    const writes = Array.from({ length: 200 }, (_, i) => ({
      fileOffset: clean.length - MiB + (i % 100) * 4096,
      data: new Uint8Array(4096).fill(i),
    }));
    const entry: EntrySpec = { sequenceNumber: 1n, at: 0, tail: 0, writes, flushedFileOffset: clean.length, lastFileOffset: clean.length };
    const dirty = makeDirty(clean, [entry]);
    expect(log.length).toBe(MiB);
    const image = await openVhdx(dirty);
    expect(image.info.log.entriesReplayed).toBe(1);
    expect(sha256(await image.read(0, raw.length))).toBe(sha256(await (await openVhdx(applyDirectly(dirty, [entry]))).read(0, raw.length)));
  });

  it('huge entry lengths and descriptor counts are skipped, not allocated', async () => {
    const clean = await vhdxOf(raw);
    const entry: EntrySpec = {
      sequenceNumber: 3n,
      at: 0,
      tail: 0,
      writes: [{ fileOffset: clean.length - 8192, zeroLength: 4096 }],
      flushedFileOffset: clean.length,
      lastFileOffset: clean.length,
    };
    for (const [field, value] of [
      [8, 0xfffff000],
      [24, 0xffffffff],
    ] as const) {
      const dirty = makeDirty(clean, [entry]);
      const at = logRegion(clean).offset;
      dataView(dirty).setUint32(at + field, value, true);
      format.storeChecksum(dirty.subarray(at, at + 4096), 4);
      const report = await (await import('../src/index.js')).checkVhdx(dirty);
      expect(report.problems.some((p) => p.structure === 'log entry' || p.structure === 'log')).toBe(true);
    }
  });

  it('a zero descriptor covering terabytes replays without allocating', async () => {
    const clean = await vhdxOf(raw);
    const entry: EntrySpec = {
      sequenceNumber: 4n,
      at: 0,
      tail: 0,
      writes: [{ fileOffset: clean.length - 2 * MiB, zeroLength: 2 ** 42 }],
      flushedFileOffset: clean.length,
      lastFileOffset: clean.length,
    };
    const before = process.memoryUsage().arrayBuffers;
    const image = await openVhdx(makeDirty(clean, [entry]));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * MiB);
    const data = await image.read(0, raw.length);
    expect(data.subarray(raw.length - MiB).every((b) => b === 0)).toBe(true);
  });

  it('BAT entries all pointing at the same block are CORRUPT', async () => {
    const file = await vhdxOf(raw);
    const table = format.parseRegionTable(file.subarray(192 * 1024, 256 * 1024), 192 * 1024);
    const bat = table.entries.find((e) => e.guid === format.GUIDS.batRegion)!.fileOffset;
    const first = format.readBatEntry(file.subarray(bat), 0);
    for (let b = 1; b < 4; b++) format.writeBatEntry(file.subarray(bat), b, first);
    await expect(openVhdx(file)).rejects.toMatchObject({ code: 'CORRUPT' });
    await expect(collect(chunkedStream(file).pipeThrough(new VhdxDecoderStream()))).rejects.toBeInstanceOf(VhdxError);
  });
});
