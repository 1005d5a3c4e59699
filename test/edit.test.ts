// The write path's format rules, seen in the operations it issues (MS-VHDX
// 2.2.2 headers, 2.3 log), and the inputs a writable open takes.
import { open as openHandle, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NIL_GUID } from '../src/format/guid.js';
import { HEADER_OFFSETS, parseHeader, serializeHeader } from '../src/format/header.js';
import { parseLogEntryHeader } from '../src/format/log.js';
import { PLACE_CHUNK } from '../src/edit/editor.js';
import { openVhdx, VhdxDecoderStream } from '../src/index.js';
import { openVhdx as openNodeVhdx } from '../src/node/index.js';
import { buildChild, dataWriteGuidOf } from './helpers/differencing.js';
import { chunkedStream, collect } from './helpers/images.js';
import { reasonOf } from './helpers/reasons.js';
import { RecordingFile } from './helpers/recording-file.js';
import { pseudoRandomBytes } from './helpers/reference.js';
import { makeDirty } from './helpers/dirty-log.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const LOG = MiB; // the synthetic image's log: 1 MiB at 1 MiB

function base(): Uint8Array {
  const raw = new Uint8Array(4 * MiB);
  raw.fill(7, 0, MiB);
  return buildSynthetic({ raw });
}

function headers(file: Uint8Array) {
  return HEADER_OFFSETS.map((at) => parseHeader(file.subarray(at, at + 4096), at));
}

/** An empty child of `parent` in a recording file, opened writable. */
async function openEmptyChild(parent: Uint8Array, virtualSize: number, blockSize: number) {
  const child = buildChild({
    virtualSize,
    blockSize,
    lss: 512,
    parentLinkage: dataWriteGuidOf(parent),
    relativePath: 'p.vhdx',
    blocks: new Map(),
  });
  const file = new RecordingFile(child);
  return { file, image: await openVhdx(file, { writable: true, parent }) };
}

const tmp = tempDir('vhdx-edit-unit-');
afterAll(() => tmp.cleanup());

describe('headers and the log, in the order the format asks', () => {
  it('nothing at open; one header update (new FileWriteGuid and DataWriteGuid, into the other slot, flushed) before the first change', async () => {
    const file = new RecordingFile(base());
    const [h1, h2] = headers(file.contents());
    const image = await openVhdx(file, { writable: true });
    expect(file.ops).toEqual([]);
    await image.write(100, new Uint8Array([1, 2, 3])); // into a stored block: no log entry
    const [first, second] = file.ops;
    // header 2 (sequence 8) is current: the update goes into header 1's slot
    expect(first).toMatchObject({ kind: 'write', position: HEADER_OFFSETS[0] });
    expect(second).toEqual({ kind: 'flush' });
    const updated = headers(file.contents())[0]!;
    expect(updated.sequenceNumber).toBe(h2!.sequenceNumber + 1n);
    expect(updated.fileWriteGuid).not.toBe(h1!.fileWriteGuid);
    expect(updated.dataWriteGuid).not.toBe(h1!.dataWriteGuid);
    expect(updated.logGuid).toBe(NIL_GUID);
    expect(image.info.dataWriteGuid).toBe(updated.dataWriteGuid);
    await image.write(200, new Uint8Array([4]));
    expect(file.ops.filter((o) => o.kind === 'write' && o.position < MiB)).toHaveLength(1); // once per open
    await image.close();
  });

  it('a new block: payload flushed, entry flushed, then the header naming its LogGuid, then the BAT; close clears the LogGuid', async () => {
    const file = new RecordingFile(base());
    const image = await openVhdx(file, { writable: true });
    await image.write(2 * MiB + 5, new Uint8Array(10).fill(9));
    const ops = file.ops;
    const kinds = ops.map((o) =>
      o.kind === 'flush'
        ? 'F'
        : o.kind === 'truncate'
          ? 'T'
          : o.position < LOG
            ? 'H'
            : o.position < 2 * MiB
              ? 'L'
              : o.position < 3 * MiB
                ? 'M'
                : o.position < 4 * MiB
                  ? 'B'
                  : 'P',
    );
    // BAT at 3 MiB, metadata at 2 MiB, payload after 4 MiB (buildSynthetic)
    expect(kinds.join('')).toBe('HFTPFLFHFBF');
    const entryOp = ops[kinds.indexOf('L')]!;
    const entry = parseLogEntryHeader((entryOp as { data: Uint8Array }).data, LOG);
    expect(entry.tail).toBe(0);
    expect(entry.flushedFileOffset % MiB).toBe(0);
    expect(entry.flushedFileOffset).toBeLessThanOrEqual(file.size);
    const named = headers(file.contents()).find((h) => h.logGuid !== NIL_GUID)!;
    expect(named.logGuid).toBe(entry.logGuid);
    await image.close();
    const [a, b] = headers(file.contents());
    expect((a!.sequenceNumber > b!.sequenceNumber ? a! : b!).logGuid).toBe(NIL_GUID); // the current header
    const reopened = await openVhdx(file.contents());
    expect(reopened.info.log.state).toBe('clean');
    expect([...(await reopened.read(2 * MiB, 20))]).toEqual([0, 0, 0, 0, 0, ...new Array(10).fill(9), 0, 0, 0, 0, 0]);
  });

  it('a differencing child changes only itself: its parent is never written, and a discard never shows the parent', async () => {
    const parent = buildSynthetic({ raw: new Uint8Array(4 * MiB).fill(0x33) });
    const parentHash = sha256(parent);
    const { file, image } = await openEmptyChild(parent, 4 * MiB, MiB);
    await image.write(MiB + 1000, new Uint8Array(3).fill(0x44)); // one sector, PARTIALLY_PRESENT
    await image.discard(2 * MiB, MiB); // ZERO, not the parent
    await image.close();
    expect(sha256(parent)).toBe(parentHash);
    const reopened = await openVhdx(file.contents(), { parent });
    const disk = await reopened.read(0, 4 * MiB);
    const want = new Uint8Array(4 * MiB).fill(0x33);
    want.set([0x44, 0x44, 0x44], MiB + 1000);
    want.fill(0, 2 * MiB, 3 * MiB);
    expect(sha256(disk)).toBe(sha256(want));
  });
});

describe('differencing children: a block written in part becomes PARTIALLY_PRESENT, its sector bitmap bits set through the log', () => {
  const KiB = 1024;
  const written = (ops: RecordingFile['ops']) => ops.reduce((n, o) => n + (o.kind === 'write' ? o.data.length : 0), 0);

  it('a 4 KiB write into a child block writes a few sectors of payload, not the block; the block is PARTIALLY_PRESENT and its chunk gets a bitmap block', async () => {
    const parentRaw = pseudoRandomBytes(64 * MiB, 5);
    const parent = buildSynthetic({ raw: parentRaw, blockSize: 32 * MiB });
    const { file, image } = await openEmptyChild(parent, 64 * MiB, 32 * MiB);
    const end = Math.ceil(file.size / MiB) * MiB;
    const data = pseudoRandomBytes(4 * KiB, 6);
    await image.write(40 * MiB + 8 * KiB, data);
    // headers, one log entry (BAT and bitmap sectors), both applied, 4 KiB of payload: not 32 MiB filled from the parent
    expect(written(file.ops)).toBeLessThan(64 * KiB);
    const model = image.loadedModel;
    expect(model.states[1]).toBe(7);
    expect(model.bitmapOffsetsMiB![0]).not.toBe(0);
    const blockAt = model.offsetsMiB[1]! * MiB;
    const payload = file.ops.filter((o) => o.kind === 'write' && o.position >= blockAt && o.position < blockAt + 32 * MiB);
    expect(written(payload)).toBe(4 * KiB);
    // the file grows by the block and the chunk's 1 MiB bitmap block, nothing more
    expect(file.size).toBe(end + 32 * MiB + MiB);
    await image.close();
    const reopened = await openVhdx(file.contents(), { parent });
    expect(reopened.loadedModel.states[1]).toBe(7);
    const want = parentRaw.slice();
    want.set(data, 40 * MiB + 8 * KiB);
    expect(sha256(await reopened.read(0, 64 * MiB))).toBe(sha256(want));
    expect(reopened.extents({ start: 32 * MiB, end: 64 * MiB }).filter((e) => e.kind === 'data' && e.level === 0)).toEqual([
      { kind: 'data', offset: 40 * MiB + 8 * KiB, length: 4 * KiB, fileOffset: blockAt + 8 * MiB + 8 * KiB, level: 0 },
    ]);
  });

  it('partial sectors are read-modify-written from the chain; a write into sectors already present is a plain write (no log entry, no flush)', async () => {
    const parentRaw = pseudoRandomBytes(4 * MiB, 7);
    const parent = buildSynthetic({ raw: parentRaw });
    const { file, image } = await openEmptyChild(parent, 4 * MiB, MiB);
    const want = parentRaw.slice();
    const a = pseudoRandomBytes(3000, 8);
    await image.write(MiB + 1000, a); // sectors 1..7 of block 1, both edges partial
    want.set(a, MiB + 1000);
    expect(image.loadedModel.states[1]).toBe(7);
    const before = file.ops.length;
    const b = pseudoRandomBytes(700, 9);
    await image.write(MiB + 1200, b); // inside the sectors just written
    want.set(b, MiB + 1200);
    const later = file.ops.slice(before);
    const blockAt = image.loadedModel.offsetsMiB[1]! * MiB;
    expect(later).toEqual([{ kind: 'write', position: blockAt + 1024, data: want.slice(MiB + 1024, MiB + 2048) }]);
    expect(sha256(await image.read(0, 4 * MiB))).toBe(sha256(want));
    await image.close();
    expect(sha256(await (await openVhdx(file.contents(), { parent })).read(0, 4 * MiB))).toBe(sha256(want));
  });

  it('a block whose every sector gets written becomes FULLY_PRESENT (its bits are no longer needed)', async () => {
    const parent = buildSynthetic({ raw: pseudoRandomBytes(4 * MiB, 10) });
    const { file, image } = await openEmptyChild(parent, 4 * MiB, MiB);
    const data = pseudoRandomBytes(MiB, 11);
    await image.write(2 * MiB, data.subarray(0, 300 * KiB));
    expect(image.loadedModel.states[2]).toBe(7);
    await image.write(2 * MiB + 300 * KiB, data.subarray(300 * KiB));
    expect(image.loadedModel.states[2]).toBe(6);
    await image.write(3 * MiB, data); // a whole block at once: FULLY_PRESENT directly
    expect(image.loadedModel.states[3]).toBe(6);
    await image.close();
    const reopened = await openVhdx(file.contents(), { parent });
    expect([...reopened.loadedModel.states]).toEqual([0, 0, 6, 6]);
    expect(sha256(await reopened.read(2 * MiB, MiB))).toBe(sha256(data));
  });

  it('space a discard freed is reused for a partial block: its unwritten sectors read the parent, never the old bytes; a discarded part reads zeros', async () => {
    const parentRaw = new Uint8Array(4 * MiB).fill(0x33);
    const parent = buildSynthetic({ raw: parentRaw });
    const child = buildChild({
      virtualSize: 4 * MiB,
      blockSize: MiB,
      lss: 512,
      parentLinkage: dataWriteGuidOf(parent),
      relativePath: 'p.vhdx',
      blocks: new Map([[0, { state: 'full', data: new Uint8Array(MiB).fill(0xaa) }]]),
    });
    const file = new RecordingFile(child);
    const image = await openVhdx(file, { writable: true, parent });
    const oldAt = image.loadedModel.offsetsMiB[0];
    await image.discard(0, MiB); // ZERO: its space is free
    const size = file.size;
    await image.write(2 * MiB + 512, new Uint8Array(512).fill(0x44));
    expect(image.loadedModel.offsetsMiB[2]).toBe(oldAt); // block 2 took block 0's old place
    expect(image.loadedModel.states[2]).toBe(7);
    await image.discard(3 * MiB + 4096, 8192); // part of a block the parent holds: zeros, bits set
    expect(image.loadedModel.states[3]).toBe(7);
    await image.close();
    expect(file.size).toBe(size + 2 * MiB); // the chunk's new bitmap block and block 3 (block 2 took block 0's place)
    const want = parentRaw.slice();
    want.fill(0, 0, MiB);
    want.fill(0x44, 2 * MiB + 512, 2 * MiB + 1024);
    want.fill(0, 3 * MiB + 4096, 3 * MiB + 12288);
    const reopened = await openVhdx(file.contents(), { parent });
    const disk = await reopened.read(0, 4 * MiB);
    expect(disk.includes(0xaa)).toBe(false);
    expect(sha256(disk)).toBe(sha256(want));
    // the streams read it the same: the image's stream, and a one-pass decode (the added bitmap block lies after payload)
    expect(sha256(await collect(reopened.stream()))).toBe(sha256(want));
    const decoded = await collect(chunkedStream(file.contents()).pipeThrough(new VhdxDecoderStream({ parent: await openVhdx(parent) })));
    expect(sha256(decoded)).toBe(sha256(want));
  });
});

describe('memory: a block placed whole is written in pieces of at most PLACE_CHUNK bytes, not a block-sized buffer', () => {
  const largestWrite = (file: RecordingFile) => Math.max(...file.ops.map((o) => (o.kind === 'write' ? o.data.length : 0)));

  it('a 32 MiB block placed in space a discard freed: no write over 4 MiB, no old byte shows', async () => {
    const raw = new Uint8Array(64 * MiB);
    raw.fill(0x11, 0, 32 * MiB);
    const file = new RecordingFile(buildSynthetic({ raw, blockSize: 32 * MiB }));
    const image = await openVhdx(file, { writable: true });
    await image.discard(0, 32 * MiB); // block 0: ZERO, its space free
    const size = file.size;
    await image.write(32 * MiB + 5, new Uint8Array(1000).fill(0x22)); // block 1 goes where block 0 was
    expect(file.size).toBe(size);
    expect(largestWrite(file)).toBeLessThanOrEqual(PLACE_CHUNK);
    await image.close();
    const reopened = await openVhdx(file.contents());
    const want = new Uint8Array(64 * MiB);
    want.fill(0x22, 32 * MiB + 5, 32 * MiB + 1005);
    expect(sha256(await reopened.read(0, 64 * MiB))).toBe(sha256(want));
  });

  it('a 32 MiB child block written in part: no write over 4 MiB, the parent shows around the write', async () => {
    const parentRaw = pseudoRandomBytes(64 * MiB, 3);
    const parent = buildSynthetic({ raw: parentRaw, blockSize: 32 * MiB });
    const { file, image } = await openEmptyChild(parent, 64 * MiB, 32 * MiB);
    await image.write(42 * MiB + 1, new Uint8Array(3).fill(0x44));
    expect(largestWrite(file)).toBeLessThanOrEqual(PLACE_CHUNK);
    await image.close();
    const reopened = await openVhdx(file.contents(), { parent });
    const want = parentRaw.slice();
    want.fill(0x44, 42 * MiB + 1, 42 * MiB + 4);
    expect(sha256(await reopened.read(0, 64 * MiB))).toBe(sha256(want));
    expect(reopened.info.allocatedBlocks).toBe(1);
  });
});

describe('a dirty log replayed onto the file', () => {
  it('a zero descriptor claiming a TiB is written only up to the end of the file (found by the fuzz campaign: it wrote zeros forever)', async () => {
    const clean = base();
    const dirty = makeDirty(clean, [
      {
        sequenceNumber: 3n,
        at: 0,
        tail: 0,
        writes: [{ fileOffset: 3 * MiB, zeroLength: 2 ** 40 }],
        flushedFileOffset: clean.length,
        lastFileOffset: clean.length,
      },
    ]);
    const inMemory = await openVhdx(dirty.slice());
    const want = await inMemory.read(0, inMemory.info.virtualSize);
    await inMemory.close();
    const file = new RecordingFile(dirty);
    const image = await openVhdx(file, { writable: true });
    await image.close();
    const written = file.ops.reduce((n, o) => n + (o.kind === 'write' ? o.data.length : 0), 0);
    expect(written).toBeLessThan(clean.length);
    expect(file.size).toBe(clean.length);
    const reopened = await openVhdx(file.contents());
    expect(reopened.info.log.state).toBe('clean');
    expect(sha256(await reopened.read(0, reopened.info.virtualSize))).toBe(sha256(want));
    await reopened.close();
  }, 20_000);
});

describe('a clean log that lies past the end of the file', () => {
  it('a writable open refuses it with region-past-eof, writing nothing (before: the first new block was placed over the log)', async () => {
    const clean = base();
    const end = clean.length; // a multiple of 1 MiB: the log moved to start exactly there
    const moved = clean.slice();
    for (const at of HEADER_OFFSETS) {
      const h = parseHeader(moved.subarray(at, at + 4096), at);
      moved.set(serializeHeader({ ...h, logOffset: end }), at);
    }
    const readOnly = await openVhdx(moved.slice());
    expect((await readOnly.check()).problems.map((p) => p.reason)).toContain('region-past-eof');
    await readOnly.close();
    const file = new RecordingFile(moved);
    expect(await reasonOf(openVhdx(file, { writable: true }))).toBe('region-past-eof');
    expect(file.ops).toEqual([]);
  });
});

describe('inputs of a writable open', () => {
  it('a Node path and a FileHandle are written in place', async () => {
    const path = join(tmp.path, 'a.vhdx');
    await writeFile(path, base());
    const image = await openNodeVhdx(path, { writable: true });
    await image.write(3 * MiB, new Uint8Array(4096).fill(0xee));
    await image.close();
    const fh = await openHandle(path, 'r+');
    const again = await openNodeVhdx(fh, { writable: true });
    expect([...(await again.read(3 * MiB, 2))]).toEqual([0xee, 0xee]);
    await again.write(3 * MiB, new Uint8Array([1]));
    await again.close();
    await fh.close();
    const reopened = await openVhdx(new Uint8Array(await readFile(path)));
    expect([...(await reopened.read(3 * MiB, 2))]).toEqual([1, 0xee]);
  });

  it('syncWriteLimit reaches the Node file: a bad one is refused with invalid-option, 0 writes the same bytes as the default', async () => {
    const path = join(tmp.path, 'limit.vhdx');
    await writeFile(path, base());
    expect(await reasonOf(openNodeVhdx(path, { writable: true, syncWriteLimit: -1 }))).toBe('invalid-option');
    const files: Uint8Array[] = [];
    for (const syncWriteLimit of [undefined, 0]) {
      await writeFile(path, base());
      const image = await openNodeVhdx(path, syncWriteLimit === undefined ? { writable: true } : { writable: true, syncWriteLimit });
      await image.write(3 * MiB + 100, new Uint8Array(70_000).fill(0xcd)); // a new block
      await image.write(200, new Uint8Array(4096).fill(0xab)); // in place, partial sectors
      await image.close();
      const bytes = new Uint8Array(await readFile(path));
      const reopened = await openVhdx(bytes);
      expect([...(await reopened.read(3 * MiB + 99, 2)), ...(await reopened.read(199, 2))]).toEqual([0, 0xcd, 7, 0xab]);
      files.push(await reopened.read(0, 4 * MiB));
    }
    expect(Buffer.compare(files[0]!, files[1]!)).toBe(0);
  });

  it('bytes, Blobs and URLs refuse writable with source-not-writable', async () => {
    expect(await reasonOf(openVhdx(base(), { writable: true }))).toBe('source-not-writable');
    expect(await reasonOf(openVhdx(new Blob([base() as Uint8Array<ArrayBuffer>]), { writable: true }))).toBe('source-not-writable');
    expect(await reasonOf(openVhdx(new URL('https://example.invalid/a.vhdx'), { writable: true }))).toBe('source-not-writable');
    expect(await reasonOf(openNodeVhdx('https://example.invalid/a.vhdx', { writable: true }))).toBe('source-not-writable');
  });
});

describe('the data of a write', () => {
  it('any typed array is written as its bytes; anything else refuses with not-bytes and the image goes on', async () => {
    const file = new RecordingFile(base(), false);
    const image = await openVhdx(file, { writable: true });
    // a new block, a present block, and a part of a sector
    await image.write(2 * MiB, new Uint16Array(256).fill(0x0102) as unknown as Uint8Array);
    await image.write(1024, new Uint32Array([0x04030201, 0x08070605]) as unknown as Uint8Array);
    const bytes = await image.read(2 * MiB, 512);
    expect([bytes[0], bytes[1], bytes[511]]).toEqual([2, 1, 1]);
    expect([...(await image.read(1024, 9))]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 7]);
    const wrong = image.write(0, 'not bytes' as unknown as Uint8Array);
    expect(await reasonOf(wrong)).toBe('not-bytes');
    await image.write(4096, new Uint8Array([9]));
    await image.close();
    const reopened = await openVhdx(file.contents());
    expect(reopened.info.log.state).toBe('clean');
    expect([...(await reopened.read(4095, 2))]).toEqual([7, 9]);
  });
});

describe('operations called without awaiting each other', () => {
  it('run one at a time in call order on a Node path (small writes on the calling thread): the bytes of a model, before and after reopening', async () => {
    const path = join(tmp.path, 'order.vhdx');
    await writeFile(path, base());
    const image = await openNodeVhdx(path, { writable: true });
    const model = new Uint8Array(4 * MiB);
    model.fill(7, 0, MiB);
    // each started at once, none awaited; the model changes in the same order
    const ops: Promise<void>[] = [];
    const put = (offset: number, data: Uint8Array) => {
      model.set(data, offset);
      ops.push(image.write(offset, data));
    };
    put(3 * MiB, new Uint8Array(4096).fill(1)); // a new block
    put(3 * MiB + 512, new Uint8Array(1024).fill(2)); // over it, once it is placed
    put(100, new Uint8Array(4096).fill(3)); // a present block, not sector-aligned
    model.fill(0, 0, MiB);
    ops.push(image.discard(0, MiB));
    put(4096, new Uint8Array(512).fill(4)); // the discarded block again
    ops.push(image.flush());
    put(3 * MiB + 1000, new Uint8Array([5]));
    await Promise.all(ops);
    expect(Buffer.compare(await image.read(0, 4 * MiB), model)).toBe(0);
    await image.close();
    const reopened = await openVhdx(new Uint8Array(await readFile(path)));
    expect(Buffer.compare(await reopened.read(0, 4 * MiB), model)).toBe(0);
  });

  it('a read called among them sees every write and discard called before it, and none called after (found by QA: reads did not wait)', async () => {
    const path = join(tmp.path, 'read-order.vhdx');
    await writeFile(path, base());
    const image = await openNodeVhdx(path, { writable: true });
    const model = new Uint8Array(4 * MiB);
    model.fill(7, 0, MiB);
    const reads: { got: Promise<Uint8Array>; want: Uint8Array }[] = [];
    const ops: Promise<void>[] = [];
    const read = (offset: number, length: number) =>
      reads.push({ got: image.read(offset, length), want: model.slice(offset, offset + length) });
    const put = (offset: number, data: Uint8Array) => {
      model.set(data, offset);
      ops.push(image.write(offset, data));
    };
    put(2 * MiB + 4096, new Uint8Array(8192).fill(1)); // a new block
    read(2 * MiB, 16 * 1024);
    put(MiB, new Uint8Array(MiB).fill(2)); // a whole new block
    read(MiB + 5, 4096);
    read(100, 4096); // the present block, before the discard that frees it
    model.fill(0, 0, MiB);
    ops.push(image.discard(0, MiB));
    read(0, 8192);
    put(3 * MiB, new Uint8Array(4096).fill(3)); // may reuse the freed space
    read(3 * MiB, 8192);
    put(3 * MiB + 1, new Uint8Array([4]));
    read(3 * MiB, 2);
    await Promise.all(ops);
    for (const { got, want } of reads) expect(Buffer.compare(await got, want)).toBe(0);
    await image.close();
  });

  it('after a failed write every later operation rejects with its error, and nothing more is written', async () => {
    const file = new RecordingFile(base());
    const image = await openVhdx(file, { writable: true });
    await image.write(0, new Uint8Array(512).fill(1)); // the header update done
    const write = file.write.bind(file);
    file.write = () => {
      throw new Error('disk gone');
    };
    const ops = [image.write(512, new Uint8Array(512)), image.write(1024, new Uint8Array(512)), image.flush(), image.discard(0, MiB)];
    const settled = await Promise.allSettled(ops);
    file.write = write;
    const reasons = settled.map((s) => (s.status === 'rejected' ? (s.reason as { reason?: string }).reason : 'fulfilled'));
    expect(reasons).toEqual(['write-failed', 'write-failed', 'write-failed', 'write-failed']);
    expect(new Set(settled.map((s) => (s as PromiseRejectedResult).reason)).size).toBe(1);
    const before = file.ops.length;
    await expect(image.write(0, new Uint8Array(512))).rejects.toMatchObject({ reason: 'write-failed' });
    expect(file.ops.length).toBe(before);
  });
});
