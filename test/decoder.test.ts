// Decoding files this project wrote, synthetic layouts, and bad input.
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VhdxDecoderStream, VhdxEncoderStream, VhdxError, checkVhdx, openVhdx, scanAllocation } from '../src/node/index.js';
import * as format from '../src/format/index.js';
import { dataView } from '../src/format/bytes.js';
import { blockPatternRaw, chunkedStream, collect, makeRaw } from './helpers/images.js';
import { buildSynthetic, poke64 } from './helpers/synthetic.js';
import { buildChild, testGuid } from './helpers/differencing.js';
import { describeWith, pyvhdiRead, sevenZipSha256, sha256, tempDir } from './helpers/tools.js';
import { reasonOf } from './helpers/reasons.js';

const MiB = 1024 * 1024;
const dir = tempDir();
afterAll(() => dir.cleanup());

async function encode(raw: Uint8Array, options: Record<string, unknown> = {}): Promise<Uint8Array> {
  return collect(chunkedStream(raw).pipeThrough(new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB, ...options })));
}

async function decodeStream(file: Uint8Array, options = {}, sizes = [MiB]): Promise<Uint8Array> {
  return collect(chunkedStream(file, sizes).pipeThrough(new VhdxDecoderStream(options)));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof VhdxError)) throw err;
    return err.code;
  }
  return 'no error';
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

describe('round trip through this project', () => {
  it.each([
    [512, 512, 'dynamic'],
    [512, 4096, 'fixed'],
    [4096, 4096, 'dynamic'],
    [4096, 4096, 'fixed'],
  ] as const)('sectors %i/%i %s: stream, read() and stream() give the input back', async (lss, pss, type) => {
    const raw = makeRaw(5 * MiB + 2 * lss, 'mixed', 11);
    const file = await encode(raw, { logicalSectorSize: lss, physicalSectorSize: pss, type });
    expect(same(await decodeStream(file, {}, [333333, MiB]), raw)).toBe(true);
    const image = await openVhdx(file);
    expect(image.info.logicalSectorSize).toBe(lss);
    expect(image.info.physicalSectorSize).toBe(pss);
    expect(image.info.type).toBe(type);
    expect(image.info.creator).toBe('vhdx-stream');
    expect(same(await collect(image.stream()), raw)).toBe(true);
    expect(same(await image.read(MiB - 10, 20), raw.subarray(MiB - 10, MiB + 10))).toBe(true);
    expect(same(await collect(image.stream({ start: 3 * MiB + 5, end: 4 * MiB })), raw.subarray(3 * MiB + 5, 4 * MiB))).toBe(true);
    expect((await image.check()).ok).toBe(true);
  });

  it('reports extents: data with file offsets, zeros, unmapped', async () => {
    const raw = blockPatternRaw(4 * MiB, MiB, (b) => b === 1 || b === 2);
    const file = buildSynthetic({ raw, zeroState: 3 });
    const image = await openVhdx(file);
    const ext = image.extents();
    expect(ext.map((e) => [e.kind, e.offset, e.length])).toEqual([
      ['unmapped', 0, MiB],
      ['data', MiB, 2 * MiB],
      ['unmapped', 3 * MiB, MiB],
    ]);
    const data = ext[1] as { fileOffset: number };
    expect(same(file.subarray(data.fileOffset, data.fileOffset + 2 * MiB), raw.subarray(MiB, 3 * MiB))).toBe(true);
    expect(same(await image.read(0, 4 * MiB), raw)).toBe(true);
  });
});

describeWith(['7zz', 'pyvhdi'], 'decoder agrees with 7-Zip and libvhdi on this project’s files', () => {
  it.each([512, 4096] as const)('logical sector %i', async (lss) => {
    const raw = makeRaw(6 * MiB, 'mixed', 5);
    const file = await encode(raw, { logicalSectorSize: lss, physicalSectorSize: 4096 });
    const path = join(dir.path, `own-${lss}.vhdx`);
    writeFileSync(path, file);
    const ours = sha256(await decodeStream(file));
    expect(ours).toBe(sha256(raw));
    expect(sevenZipSha256(path).sha256).toBe(ours);
    expect(pyvhdiRead(path).sha256).toBe(ours);
  });
});

describe('backpressure', () => {
  // A block larger than the output queue, fed in small chunks to a consumer
  // slower than the input: the producer must wait for the consumer without
  // both sides waiting on each other (this deadlocked once).
  it('a slow consumer and blocks larger than the output queue finish with the right bytes', async () => {
    const raw = makeRaw(20 * MiB + 1024, 'mixed', 31);
    const file = await encode(raw, { blockSize: 16 * MiB });
    const parts: Uint8Array[] = [];
    const slowSink = new WritableStream<Uint8Array>({
      async write(chunk) {
        parts.push(chunk.slice());
        await new Promise((r) => setTimeout(r, 1));
      },
    });
    await chunkedStream(file, [65536]).pipeThrough(new VhdxDecoderStream()).pipeTo(slowSink);
    expect(same(Buffer.concat(parts), raw)).toBe(true);
  }, 20_000);
});

describe('layouts seen in real files', () => {
  const raw = blockPatternRaw(12 * MiB + 1024, MiB, (b) => b % 4 !== 1);
  for (const order of ['forward', 'reverse'] as const) {
    it(`Hyper-V layout (metadata @2 MiB, BAT @3 MiB, required bits, 4096 physical), blocks ${order}`, async () => {
      const file = buildSynthetic({ raw, layout: 'hyperv', order });
      const image = await openVhdx(file);
      expect(same(await image.read(0, raw.length), raw)).toBe(true);
      expect(image.info.regions.map((r) => r.name)).toEqual(['log', 'metadata', 'bat']);
      expect(same(await decodeStream(file, {}, [65536 * 3 + 1]), raw)).toBe(true);
    });
  }

  it('reverse order past the reorder bound fails with LIMIT_EXCEEDED pointing to openVhdx()', async () => {
    const file = buildSynthetic({ raw, order: 'reverse' });
    const err = await decodeStream(file, { maxBufferBytes: 3 * MiB }).catch((e) => e);
    expect(err).toBeInstanceOf(VhdxError);
    expect(err.code).toBe('LIMIT_EXCEEDED');
    expect(err.message).toContain('openVhdx');
  });

  it('a BAT after the payload streams within the bound and fails past it', async () => {
    const file = buildSynthetic({ raw, layout: 'bat-last' });
    expect(same(await decodeStream(file), raw)).toBe(true);
    expect(await codeOf(decodeStream(file, { maxBufferBytes: 2 * MiB }))).toBe('LIMIT_EXCEEDED');
  });

  it('an absent first block with payload already held when the BAT is parsed (regression: deadlock found by fuzzing)', async () => {
    const sparse = blockPatternRaw(6 * MiB, MiB, (b) => b >= 2);
    const file = await encode(sparse, { allocationMap: await scanAllocation(sparse, { blockSize: MiB }) });
    expect(same(await decodeStream(file, {}, [file.length]), sparse)).toBe(true);
  });

  it('equal header sequence numbers (Disk2vhd) and NOT_PRESENT / ZERO / UNDEFINED states read as zeros', async () => {
    for (const zeroState of [0, 1, 2]) {
      const file = buildSynthetic({ raw, equalSequence: true, zeroState });
      expect(same(await (await openVhdx(file)).read(0, raw.length), raw)).toBe(true);
      expect(same(await decodeStream(file), raw)).toBe(true);
    }
  });

  it('ignores unknown optional regions and metadata items, refuses unknown required ones', async () => {
    const extraRegion = { guid: '12345678-1234-4234-8234-123456789abc', fileOffset: 200 * MiB, length: MiB, required: false };
    const extraItem = { id: '87654321-4321-4321-8321-cba987654321', required: false, data: new Uint8Array(16).fill(7) };
    const ok = buildSynthetic({ raw, extraRegions: [extraRegion], extraMetadata: [extraItem] });
    expect(same(await (await openVhdx(ok)).read(0, raw.length), raw)).toBe(true);
    expect(same(await decodeStream(ok), raw)).toBe(true);
    expect(await codeOf(openVhdx(buildSynthetic({ raw, extraRegions: [{ ...extraRegion, required: true }] })))).toBe('UNSUPPORTED');
    expect(await codeOf(openVhdx(buildSynthetic({ raw, extraMetadata: [{ ...extraItem, required: true }] })))).toBe('UNSUPPORTED');
  });

  // reading chains: test/chains.test.ts
  it('reports differencing disks as such and refuses to read them without their parent', async () => {
    const file = buildChild({
      virtualSize: raw.length,
      blockSize: MiB,
      lss: 512,
      parentLinkage: testGuid(),
      relativePath: 'base.vhdx',
      blocks: new Map(),
    });
    const image = await openVhdx(file, { allowMissingParent: true });
    expect(image.info.type).toBe('differencing');
    expect(await codeOf(image.read(0, 512))).toBe('IO');
    expect(await codeOf(openVhdx(file))).toBe('IO');
    expect(await codeOf(decodeStream(file))).toBe('IO');
    // a parent that is not a VHDX file is not supported
    const otherParent = buildChild({
      virtualSize: raw.length,
      blockSize: MiB,
      lss: 512,
      parentLinkage: testGuid(),
      relativePath: 'base.vhdx',
      blocks: new Map(),
      locatorType: testGuid(),
    });
    expect(await codeOf(openVhdx(otherParent))).toBe('UNSUPPORTED');
    expect(await codeOf(decodeStream(otherParent))).toBe('UNSUPPORTED');
  });
});

describe('damaged copies', () => {
  const raw = blockPatternRaw(4 * MiB, MiB, (b) => b !== 2);
  const damage = (at: number) => {
    const f = buildSynthetic({ raw });
    f[at] = f[at]! ^ 0xff;
    return f;
  };
  it.each([
    ['header 1', 64 * 1024 + 100],
    ['header 2', 128 * 1024 + 100],
    ['region table 1', 192 * 1024 + 100],
  ])('uses the other copy when %s fails its checksum, and check() reports it', async (name, at) => {
    const file = damage(at);
    const image = await openVhdx(file);
    expect(same(await image.read(0, raw.length), raw)).toBe(true);
    const report = await image.check();
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.code === 'BAD_CHECKSUM' && p.structure === name)).toBe(true);
    expect(same(await decodeStream(file), raw)).toBe(true);
  });

  it('is CORRUPT when both headers or both region tables fail', async () => {
    const bothHeaders = damage(64 * 1024 + 100);
    bothHeaders[128 * 1024 + 100]! ^= 0xff;
    expect(await codeOf(openVhdx(bothHeaders))).toBe('CORRUPT');
    expect(await codeOf(decodeStream(bothHeaders))).toBe('CORRUPT');
    const bothTables = damage(192 * 1024 + 100);
    bothTables[256 * 1024 + 100]! ^= 0xff;
    expect(await codeOf(openVhdx(bothTables))).toBe('CORRUPT');
    const report = await checkVhdx(bothTables);
    expect(report.ok).toBe(false);
    expect(report.problems[0]!.code).toBe('CORRUPT');
  });
});

describe('bad input: a VhdxError with the right code', () => {
  const raw = blockPatternRaw(6 * MiB, MiB, (b) => b !== 3);
  const base = () => buildSynthetic({ raw, layout: 'hyperv' }); // metadata @2 MiB, BAT @3 MiB, payload from 4 MiB
  const META = 2 * MiB;
  const ITEMS = META + 64 * 1024;
  const BAT = 3 * MiB;

  it.each([
    0,
    7,
    8,
    1000,
    64 * 1024,
    68 * 1024,
    130 * 1024,
    200 * 1024,
    300 * 1024,
    MiB,
    META,
    META + 70000,
    BAT,
    BAT + 8,
    4 * MiB,
    6 * MiB + 5,
  ])('truncated at %i', async (at) => {
    const file = base().subarray(0, at);
    const want = at < 8 ? 'NOT_VHDX' : 'TRUNCATED';
    expect(await codeOf(openVhdx(file))).toBe(want);
    expect(await codeOf(decodeStream(file))).toBe(want);
  });

  it('not a VHDX at all', async () => {
    const junk = makeRaw(2 * MiB, 'data');
    expect(await codeOf(openVhdx(junk))).toBe('NOT_VHDX');
    expect(await codeOf(decodeStream(junk))).toBe('NOT_VHDX');
  });

  function withRegionTable(mutate: (table: Uint8Array) => void): Uint8Array {
    const file = base();
    for (const off of [192 * 1024, 256 * 1024]) {
      const t = file.subarray(off, off + 64 * 1024);
      mutate(t);
      format.storeChecksum(t, 4);
    }
    return file;
  }

  it.each([
    ['region entry count over 2047', (t: Uint8Array) => dataView(t).setUint32(8, 2048, true), 'CORRUPT'],
    ['region overlapping the log', (t: Uint8Array) => poke64(t, 16 + 16, MiB), 'CORRUPT'],
    ['regions overlapping each other', (t: Uint8Array) => poke64(t, 16 + 32 + 16, 2 * MiB), 'CORRUPT'],
    ['region not 1 MiB aligned', (t: Uint8Array) => poke64(t, 16 + 16, 2 * MiB + 4096), 'CORRUPT'],
    ['region past the end of the file', (t: Uint8Array) => poke64(t, 16 + 32 + 16, 400 * MiB), 'TRUNCATED'],
    ['BAT region smaller than the BAT', (t: Uint8Array) => dataView(t).setUint32(16 + 32 + 24, 0, true), 'CORRUPT'],
  ])('%s', async (_, mutate, code) => {
    const file = withRegionTable(mutate);
    expect(await codeOf(openVhdx(file))).toBe(code);
    expect(await codeOf(decodeStream(file))).toBe(code);
  });

  it.each([
    ['block size 0', ITEMS, 4, 0],
    ['block size not a power of two', ITEMS, 4, 3 * MiB],
    ['block size 512 MiB', ITEMS, 4, 512 * MiB],
    ['logical sector 1000', ITEMS + 32, 4, 1000],
    ['physical sector 0', ITEMS + 40, 4, 0],
    ['virtual size over 64 TiB', ITEMS + 8, 8, 64 * 2 ** 40 + 512],
    ['virtual size 0', ITEMS + 8, 8, 0],
    ['virtual size not a sector multiple', ITEMS + 8, 8, 6 * MiB + 100],
    ['metadata entry count over 2047', META + 10, 2, 2048],
    ['metadata item offset inside the table', META + 32 + 16, 4, 100],
    ['metadata item length over 1 MiB', META + 32 + 20, 4, MiB + 1],
  ])('metadata: %s is CORRUPT', async (_, at, width, value) => {
    const file = base();
    const dv = dataView(file);
    if (width === 2) dv.setUint16(at, value, true);
    else if (width === 4) dv.setUint32(at, value, true);
    else poke64(file, at, value);
    expect(await codeOf(openVhdx(file))).toBe('CORRUPT');
    expect(await codeOf(decodeStream(file))).toBe('CORRUPT');
  });

  it.each([
    ['a block past the end of the file', 1, 6, 500, 'TRUNCATED'],
    ['two blocks at the same offset', 1, 6, 4, 'CORRUPT'],
    ['a block on top of the BAT', 1, 6, 3, 'CORRUPT'],
    ['a block inside the header section', 1, 6, 0, 'CORRUPT'],
    ['an invalid state', 1, 5, 4, 'CORRUPT'],
    ['PARTIALLY_PRESENT without a parent', 1, 7, 5, 'CORRUPT'],
  ])('BAT: %s', async (_, block, state, offsetMiB, code) => {
    const file = base();
    format.writeBatEntry(file.subarray(BAT), block, { state, offsetMiB });
    expect(await codeOf(openVhdx(file))).toBe(code);
    expect(await codeOf(decodeStream(file))).toBe(code);
  });

  it('a BAT over maxBatBytes fails before it is read', async () => {
    expect(await codeOf(openVhdx(base(), { maxBatBytes: 8 }))).toBe('LIMIT_EXCEEDED');
    expect(await codeOf(decodeStream(base(), { maxBatBytes: 8 }))).toBe('LIMIT_EXCEEDED');
  });

  it('check() lists every bad BAT entry, not only the first', async () => {
    const file = base();
    format.writeBatEntry(file.subarray(BAT), 1, { state: 5, offsetMiB: 0 });
    format.writeBatEntry(file.subarray(BAT), 4, { state: 4, offsetMiB: 0 });
    const report = await checkVhdx(file);
    expect(report.ok).toBe(false);
    expect(report.problems.filter((p) => p.structure === 'bat').map((p) => p.offset)).toEqual([BAT + 8, BAT + 32]);
  });

  it('rejects reads outside the disk', async () => {
    const image = await openVhdx(base());
    expect(await codeOf(image.read(6 * MiB - 1, 2))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(image.read(-1, 2))).toBe('INVALID_ARGUMENT');
  });
});

describe('VhdxDecoderStream error reasons', () => {
  const raw = blockPatternRaw(6 * MiB, MiB, (b) => b !== 3);
  const base = () => buildSynthetic({ raw, layout: 'hyperv' });

  it.each([
    ['not-vhdx', () => makeRaw(2 * MiB, 'data'), {}],
    ['header-section-truncated', () => base().subarray(0, 130 * 1024), {}],
    ['input-truncated', () => base().subarray(0, 6 * MiB + 5), {}],
    ['reorder-buffer-full', () => buildSynthetic({ raw, order: 'reverse' }), { maxBufferBytes: 2 * MiB }],
    ['reorder-buffer-full', () => buildSynthetic({ raw, layout: 'bat-last' }), { maxBufferBytes: MiB }],
    [
      'differencing-unsupported',
      () =>
        buildChild({
          virtualSize: raw.length,
          blockSize: MiB,
          lss: 512,
          parentLinkage: testGuid(),
          relativePath: 'p.vhdx',
          blocks: new Map(),
          locatorType: testGuid(),
        }),
      {},
    ],
    [
      'parent-missing',
      () =>
        buildChild({
          virtualSize: raw.length,
          blockSize: MiB,
          lss: 512,
          parentLinkage: testGuid(),
          relativePath: 'p.vhdx',
          blocks: new Map(),
        }),
      {},
    ],
  ] as const)('%s', async (reason, file, options) => {
    expect(await reasonOf(decodeStream(file(), options))).toBe(reason);
  });

  it('invalid-option for a bad maxBufferBytes, before any byte flows', async () => {
    for (const maxBufferBytes of [0, -1, 1.5]) {
      expect(await reasonOf(() => new VhdxDecoderStream({ maxBufferBytes }))).toBe('invalid-option');
    }
  });

  it('cancelled when the consumer cancels without a reason', async () => {
    const decoder = new VhdxDecoderStream();
    await decoder.readable.cancel();
    expect(await reasonOf(decoder.info)).toBe('cancelled');
  });
});
