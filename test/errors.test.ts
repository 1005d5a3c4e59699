// Every reason the library gives, each from the smallest hand-built input that
// produces it, through the layer that throws it and through the public API
// where it surfaces. Assertions are on `reason`, `code` and `structure`, never
// on message text. The last test checks that no reason goes untested.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ts from 'typescript';
import {
  VhdxDecoderStream,
  VhdxEncoderStream,
  VhdxError,
  VhdxWriterStream,
  checkVhdx,
  compactVhdx,
  openVhdx,
  resizeVhdx,
  scanAllocation,
} from '../src/index.js';
import * as format from '../src/format/index.js';
import { dataView } from '../src/format/bytes.js';
import { httpSource } from '../src/sources/http.js';
import * as node from '../src/node/index.js';
import { refuseReplacingParent } from '../src/node/chain-output.js';
import { REASON_CODES, type VhdxErrorReason, type VhdxStructure } from '../src/errors.js';
import { checkLimit, resolveLimits } from '../src/image/limits.js';
import { blockPatternRaw, chunkedStream, collect, makeRaw } from './helpers/images.js';
import { buildSynthetic, poke64 } from './helpers/synthetic.js';
import { makeDirty, type EntrySpec } from './helpers/dirty-log.js';
import { RecordingFile } from './helpers/recording-file.js';
import { buildChild, dataWriteGuidOf, testGuid, type ChildBlock, type ChildSpec } from './helpers/differencing.js';

const MiB = 1024 * 1024;
const KiB = 1024;

/** Reasons some test here has seen thrown (or reported), for the coverage test at the end. */
const seen = new Set<VhdxErrorReason>();

/**
 * Reasons whose tests live in another file, and that file. The kernels'
 * reasons need fresh module instances, which would give later tests here a
 * second copy of the error class.
 */
const COVERED_ELSEWHERE: Partial<Record<VhdxErrorReason, string>> = {
  'wasm-unavailable': 'test/kernels.test.ts',
  'wasm-memory': 'test/kernels.test.ts',
  'not-bytes': 'test/bytes-input.test.ts',
  'source-not-writable': 'test/file-seam.test.ts',
  // needs a store refusing the checksum headers: the in-test S3 server there
  'checksum-refused': 'test/s3.test.ts',
  // only the command line's streamed check gives it
  'check-incomplete': 'test/stream-back.test.ts',
};

/**
 * Reasons no hand-built input can reach in a test's time and memory; each
 * says why. Kept short on purpose: anything reachable belongs in a test.
 */
const UNREACHABLE_IN_TESTS: Partial<Record<VhdxErrorReason, string>> = {
  // the positional writer learns the size from its input: reaching this needs more than 64 TiB of input
  'input-over-64-tib': 'needs over 64 TiB streamed into VhdxWriterStream',
  // the stream decoder's guard for a failure that is not a VhdxError while loading structures: only a bug reaches it
  'structure-unreadable': 'a defect in the image layer (every failure there is a VhdxError, which passes through)',
};

/** The error `run` throws or rejects with; fails the test when it succeeds. */
async function failure(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

interface Expected {
  structure?: VhdxStructure;
  field?: string;
  offset?: number;
}

/** Asserts `err` is a VhdxError with `reason`, the code it implies, and what else is known. */
function expectReason(err: unknown, reason: VhdxErrorReason, where: Expected = {}): void {
  expect(err).toBeInstanceOf(VhdxError);
  const e = err as VhdxError;
  expect({ reason: e.reason, code: e.code }).toEqual({ reason, code: REASON_CODES[reason] });
  if ('structure' in where) expect(e.structure).toBe(where.structure);
  if ('field' in where) expect(e.field).toBe(where.field);
  if ('offset' in where) expect(e.offset).toBe(where.offset);
  seen.add(reason);
}

async function expectRejection(run: () => unknown, reason: VhdxErrorReason, where: Expected = {}): Promise<void> {
  expectReason(await failure(run), reason, where);
}

/** Asserts a check report lists a problem with `reason` (and `structure`). */
function expectProblem(report: { problems: object[] }, reason: VhdxErrorReason, structure?: VhdxStructure): void {
  const want = { reason, code: REASON_CODES[reason], ...(structure ? { structure } : {}) };
  expect(report.problems).toContainEqual(expect.objectContaining(want));
  seen.add(reason);
}

function decode(file: Uint8Array, options: ConstructorParameters<typeof VhdxDecoderStream>[0] = {}): Promise<Uint8Array> {
  return collect(chunkedStream(file).pipeThrough(new VhdxDecoderStream(options)));
}

function encode(raw: Uint8Array, options: ConstructorParameters<typeof VhdxEncoderStream>[0]): Promise<Uint8Array> {
  return collect(chunkedStream(raw).pipeThrough(new VhdxEncoderStream(options)));
}

// ---- hand-built structures -------------------------------------------------

const GUID_A = '0a0a0a0a-0000-4000-8000-00000000000a';
const UNKNOWN_GUID = '12345678-1234-4234-8234-123456789abc';

const HEADER = {
  sequenceNumber: 1n,
  fileWriteGuid: GUID_A,
  dataWriteGuid: GUID_A,
  logGuid: format.NIL_GUID,
  logVersion: 0,
  version: 1,
  logLength: MiB,
  logOffset: MiB,
};

const headerWith = (fields: Partial<typeof HEADER>) => format.serializeHeader({ ...HEADER, ...fields });

const REGIONS = [
  { guid: format.GUIDS.metadataRegion, fileOffset: 2 * MiB, length: MiB, required: true },
  { guid: format.GUIDS.batRegion, fileOffset: 3 * MiB, length: MiB, required: true },
];

/** A valid region table, changed by `mutate`, then re-checksummed. */
function regionTableWith(mutate: (t: Uint8Array) => void): Uint8Array {
  const t = format.serializeRegionTable({ entries: REGIONS });
  mutate(t);
  format.storeChecksum(t, 4);
  return t;
}

const META_ITEMS = {
  fileParameters: { blockSize: MiB, leaveBlocksAllocated: false, hasParent: false },
  virtualDiskSize: 6 * MiB,
  virtualDiskId: GUID_A,
  logicalSectorSize: 512,
  physicalSectorSize: 4096,
};

// The synthetic image (test/helpers/synthetic.ts, 'hyperv' layout): log @1 MiB,
// metadata @2 MiB, BAT @3 MiB, payload from 4 MiB; blocks 0-2 and 4-5 stored at
// 4..8 MiB. Region entries: metadata, BAT. Metadata entries: file parameters,
// virtual disk size, virtual disk id, logical and physical sector size; items
// from 64 KiB into the region, in that order, 8-byte aligned.
const raw = blockPatternRaw(6 * MiB, MiB, (b) => b !== 3);
const image = () => buildSynthetic({ raw, layout: 'hyperv' });
const META = 2 * MiB;
const ITEMS = META + 64 * KiB;
const BAT = 3 * MiB;
const entryAt = (i: number) => 16 + i * 32; // region table entry i
const metaEntryAt = (i: number) => META + 32 + i * 32; // metadata table entry i

/** The synthetic image with both region tables changed by `mutate` (and re-checksummed). */
function imageWithRegionTables(mutate: (t: Uint8Array) => void): Uint8Array {
  const file = image();
  for (const off of format.REGION_TABLE_OFFSETS) {
    const t = file.subarray(off, off + format.REGION_TABLE_SIZE);
    mutate(t);
    format.storeChecksum(t, 4);
  }
  return file;
}

function imageWith(mutate: (file: Uint8Array, dv: DataView) => void): Uint8Array {
  const file = image();
  mutate(file, dataView(file));
  return file;
}

const LOG = MiB; // the synthetic image's log offset
const PAYLOAD_SECTOR = 4 * MiB + 8192; // inside stored block 0

function dirty(entries: Partial<EntrySpec>[], file = image()): Uint8Array {
  const full = entries.map((e, i) => ({
    sequenceNumber: BigInt(10 + i),
    at: 0,
    tail: 0,
    writes: [{ fileOffset: PAYLOAD_SECTOR, data: new Uint8Array(4096).fill(0x5a) }],
    flushedFileOffset: file.length,
    lastFileOffset: file.length,
    ...e,
  }));
  return makeDirty(file, full);
}

/** Changes the first log entry of a dirty image and re-checksums it (`length` bytes long). */
function patchEntry(file: Uint8Array, length: number, patch: (entry: Uint8Array) => void): Uint8Array {
  const entry = file.subarray(LOG, LOG + length);
  patch(entry);
  format.storeChecksum(entry, 4);
  return file;
}

const ascii = (text: string) => new TextEncoder().encode(text);
const flip = (b: Uint8Array, at: number) => b.set([b[at]! ^ 1], at);

// ---- the structure codec and the layers below it ---------------------------

describe('reasons from the file identifier', () => {
  it('not-vhdx: 64 KiB without the signature', async () => {
    expectReason(await failure(() => format.parseFileIdentifier(new Uint8Array(64 * KiB))), 'not-vhdx', {
      structure: 'file identifier',
      offset: 0,
    });
    const junk = makeRaw(2 * MiB, 'data');
    await expectRejection(() => openVhdx(junk), 'not-vhdx', { structure: 'file identifier' });
    await expectRejection(async () => decode(junk), 'not-vhdx', { structure: 'file identifier' });
  });

  it('structure-truncated: every parser given fewer bytes than its structure', async () => {
    const short = new Uint8Array(40);
    expectReason(await failure(() => format.parseFileIdentifier(short)), 'structure-truncated', { structure: 'file identifier' });
    expectReason(await failure(() => format.parseHeader(short, 64 * KiB)), 'structure-truncated', {
      structure: 'header 1',
      offset: 64 * KiB,
    });
    expectReason(await failure(() => format.parseHeader(short, 128 * KiB)), 'structure-truncated', { structure: 'header 2' });
    expectReason(await failure(() => format.parseRegionTable(short, 256 * KiB)), 'structure-truncated', { structure: 'region table 2' });
    expectReason(await failure(() => format.parseMetadataTable(short, META, MiB)), 'structure-truncated', {
      structure: 'metadata table',
      offset: META,
    });
    expectReason(await failure(() => format.parseLogEntryHeader(short, LOG)), 'structure-truncated', {
      structure: 'log entry',
      offset: LOG,
    });
  });
});

describe('reasons from the headers', () => {
  const parse = (h: Uint8Array, structure: 'header 1' | 'header 2' = 'header 1') =>
    failure(() => format.parseHeader(h, 64 * KiB, structure));

  it('header-signature: "head" misspelt', async () => {
    const h = headerWith({});
    h.set(ascii('hexd'), 0);
    expectReason(await parse(h, 'header 2'), 'header-signature', { structure: 'header 2', field: 'signature' });
  });

  it('header-checksum: one byte changed after checksumming', async () => {
    const h = headerWith({});
    h[100] = 1;
    expectReason(await parse(h), 'header-checksum', { structure: 'header 1', field: 'checksum', offset: 64 * KiB + 4 });
  });

  it.each([
    ['header-version', { version: 2 }, 'version'],
    ['header-log-version', { logVersion: 1 }, 'log_version'],
    ['header-log-length', { logLength: 4096 }, 'log_length'],
    ['header-log-offset', { logOffset: MiB + 4096 }, 'log_offset'],
  ] as const)('%s', async (reason, fields, field) => {
    expectReason(await parse(headerWith(fields)), reason, { structure: 'header 1', field });
  });
});

describe('reasons from the region table', () => {
  const parse = (t: Uint8Array) => failure(() => format.parseRegionTable(t, 192 * KiB, 'region table 1'));

  it('region-table-signature', async () => {
    expectReason(await parse(regionTableWith((t) => t.set(ascii('regx'), 0))), 'region-table-signature', {
      structure: 'region table 1',
      field: 'signature',
    });
  });

  it('region-table-checksum', async () => {
    const t = format.serializeRegionTable({ entries: REGIONS });
    t[40000] = 1;
    expectReason(await parse(t), 'region-table-checksum', { structure: 'region table 1', field: 'checksum' });
  });

  it('region-table-entry-count: 2048 entries', async () => {
    const t = regionTableWith((b) => dataView(b).setUint32(8, 2048, true));
    expectReason(await parse(t), 'region-table-entry-count', { structure: 'region table 1', offset: 192 * KiB + 8 });
  });

  it('region-offset: a region inside the header section', async () => {
    expectReason(await parse(regionTableWith((t) => poke64(t, entryAt(1) + 16, 512 * KiB))), 'region-offset', {
      structure: 'region table 1',
    });
  });

  it('region-length: a region 4 KiB long', async () => {
    const t = regionTableWith((b) => dataView(b).setUint32(entryAt(1) + 24, 4096, true));
    expectReason(await parse(t), 'region-length', { structure: 'region table 1' });
  });

  it('region-duplicate: the BAT named twice', async () => {
    const t = format.serializeRegionTable({ entries: [...REGIONS, { ...REGIONS[1]!, fileOffset: 5 * MiB }] });
    expectReason(await parse(t), 'region-duplicate', { structure: 'region table 1', offset: 192 * KiB + entryAt(2) });
  });
});

describe('reasons from the metadata table and items', () => {
  const region = () => format.serializeMetadataRegion(META_ITEMS, MiB);
  const parseTable = (b: Uint8Array) => failure(() => format.parseMetadataTable(b, META, MiB));
  const item = (bytes: number[] | Uint8Array) => Uint8Array.from(bytes);
  const u32 = (n: number) => item([n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24]);
  const u64 = (n: number) => {
    const b = new Uint8Array(8);
    poke64(b, 0, n);
    return b;
  };

  it('metadata-signature: in the codec and in a file', async () => {
    const b = region();
    b.set(ascii('metadatx'), 0);
    expectReason(await parseTable(b), 'metadata-signature', { structure: 'metadata table', field: 'signature', offset: META });
    const file = imageWith((f) => f.set(ascii('metadatx'), META));
    await expectRejection(() => openVhdx(file), 'metadata-signature', { structure: 'metadata table' });
    await expectRejection(async () => decode(file), 'metadata-signature', { structure: 'metadata table' });
  });

  it('metadata-item-duplicate: the virtual disk size entry names the file parameters item', async () => {
    const b = region();
    format.writeGuid(b, 32 + 32, format.GUIDS.fileParameters);
    expectReason(await parseTable(b), 'metadata-item-duplicate', { structure: 'metadata table', field: 'entry 1' });
    const file = imageWith((f) => format.writeGuid(f, metaEntryAt(1), format.GUIDS.fileParameters));
    await expectRejection(() => openVhdx(file), 'metadata-item-duplicate', { structure: 'metadata table' });
    await expectRejection(async () => decode(file), 'metadata-item-duplicate', { structure: 'metadata table' });
  });

  it('metadata-item-offset: an offset without a length', async () => {
    const b = region();
    dataView(b).setUint32(32 + 20, 0, true);
    expectReason(await parseTable(b), 'metadata-item-offset', { structure: 'metadata table', field: 'entry 0 offset' });
  });

  it('metadata-item-size: items shorter than their fields', async () => {
    const at = { offset: ITEMS, field: 'File Parameters' };
    expectReason(await failure(() => format.parseFileParameters(item([0, 0, 16, 0]), at)), 'metadata-item-size', {
      structure: 'metadata item',
      field: 'File Parameters',
      offset: ITEMS,
    });
    // without a name from the caller, the parser names the item itself
    expectReason(await failure(() => format.parseVirtualDiskSize(item([1]), { offset: 0 })), 'metadata-item-size', {
      field: 'Virtual Disk Size',
    });
    expectReason(await failure(() => format.parseVirtualDiskId(item([1, 2]), { offset: 0 })), 'metadata-item-size', {
      field: 'Virtual Disk Id',
    });
    expectReason(
      await failure(() => format.parseSectorSize(item([0, 2]), { offset: 0, field: 'Physical Sector Size' })),
      'metadata-item-size',
      {
        field: 'Physical Sector Size',
      },
    );
    expectReason(await failure(() => format.parseParentLocator(item([0]), { offset: 0 })), 'metadata-item-size', {
      field: 'Parent Locator',
    });
    const file = imageWith((_, dv) => dv.setUint32(metaEntryAt(0) + 20, 4, true));
    await expectRejection(() => openVhdx(file), 'metadata-item-size', { structure: 'metadata item' });
    await expectRejection(async () => decode(file), 'metadata-item-size', { structure: 'metadata item' });
  });

  it('block-size-invalid, virtual-size-invalid, sector-size-invalid: out-of-range values in the codec', async () => {
    const at = (field: string) => ({ offset: ITEMS, field });
    expectReason(await failure(() => format.parseFileParameters(new Uint8Array(8), at('File Parameters'))), 'block-size-invalid', {
      structure: 'metadata item',
      field: 'File Parameters',
    });
    expectReason(await failure(() => format.parseVirtualDiskSize(u64(0), at('Virtual Disk Size'))), 'virtual-size-invalid', {
      structure: 'metadata item',
      field: 'Virtual Disk Size',
    });
    expectReason(await failure(() => format.parseSectorSize(u32(1024), at('Logical Sector Size'))), 'sector-size-invalid', {
      structure: 'metadata item',
      field: 'Logical Sector Size',
    });
  });

  it('locator-malformed: key/value entries past the item, in the codec and in a file', async () => {
    const tooMany = new Uint8Array(32);
    dataView(tooMany).setUint16(18, 2, true); // two 12-byte entries after 20 bytes need 44
    expectReason(await failure(() => format.parseParentLocator(tooMany, { offset: 0 })), 'locator-malformed', {
      structure: 'metadata item',
      field: 'Parent Locator',
    });
    const outside = new Uint8Array(32);
    dataView(outside).setUint16(18, 1, true);
    dataView(outside).setUint32(20, 1000, true); // key at 1000
    expectReason(await failure(() => format.parseParentLocator(outside, { offset: 0 })), 'locator-malformed', {
      structure: 'metadata item',
    });
    const file = buildSynthetic({
      raw,
      layout: 'hyperv',
      extraMetadata: [{ id: format.GUIDS.parentLocator, required: false, data: outside }],
    });
    await expectRejection(() => openVhdx(file), 'locator-malformed', { structure: 'metadata item' });
  });
});

// The eleven metadata mutations test/decoder.test.ts asserts only as CORRUPT,
// here with the reason each gives; 'virtual size not a sector multiple' is the
// image layer's check and sits with the image reasons below.
describe('metadata mutations of a synthetic image, by reason', () => {
  it.each([
    ['block size 0', ITEMS, 4, 0, 'block-size-invalid', 'metadata item'],
    ['block size not a power of two', ITEMS, 4, 3 * MiB, 'block-size-invalid', 'metadata item'],
    ['block size 512 MiB', ITEMS, 4, 512 * MiB, 'block-size-invalid', 'metadata item'],
    ['logical sector 1000', ITEMS + 32, 4, 1000, 'sector-size-invalid', 'metadata item'],
    ['physical sector 0', ITEMS + 40, 4, 0, 'sector-size-invalid', 'metadata item'],
    ['virtual size over 64 TiB', ITEMS + 8, 8, 64 * 2 ** 40 + 512, 'virtual-size-invalid', 'metadata item'],
    ['virtual size 0', ITEMS + 8, 8, 0, 'virtual-size-invalid', 'metadata item'],
    ['metadata entry count over 2047', META + 10, 2, 2048, 'metadata-entry-count', 'metadata table'],
    ['metadata item offset inside the table', metaEntryAt(0) + 16, 4, 100, 'metadata-item-offset', 'metadata table'],
    ['metadata item length over 1 MiB', metaEntryAt(0) + 20, 4, MiB + 1, 'metadata-item-length', 'metadata table'],
  ] as const)('%s: %s', async (_, at, width, value, reason, structure) => {
    const file = imageWith((f, dv) => {
      if (width === 2) dv.setUint16(at, value, true);
      else if (width === 4) dv.setUint32(at, value, true);
      else poke64(f, at, value);
    });
    await expectRejection(() => openVhdx(file), reason, { structure });
    await expectRejection(async () => decode(file), reason, { structure });
  });
});

describe('reasons from the log entry codec', () => {
  it('log-entry-signature: "loge" misspelt', async () => {
    const entry = format.buildLogEntry({
      sequenceNumber: 1n,
      tail: 0,
      logGuid: GUID_A,
      flushedFileOffset: MiB,
      lastFileOffset: MiB,
      writes: [],
    });
    entry.set(ascii('logx'), 0);
    expectReason(await failure(() => format.parseLogEntryHeader(entry, LOG)), 'log-entry-signature', {
      structure: 'log entry',
      field: 'signature',
      offset: LOG,
    });
  });
});

describe('reasons from the serializers', () => {
  it('value-unencodable: a creator of 256 characters', async () => {
    expectReason(await failure(() => format.serializeFileIdentifier({ creator: 'x'.repeat(256) })), 'value-unencodable', {
      structure: 'file identifier',
      field: 'creator',
    });
  });

  it('value-unencodable: 2048 region entries', async () => {
    const entries = Array.from({ length: 2048 }, (_, i) => ({ ...REGIONS[0]!, fileOffset: (i + 1) * MiB }));
    expectReason(await failure(() => format.serializeRegionTable({ entries })), 'value-unencodable', { structure: 'region tables' });
  });

  it('value-unencodable: a metadata region too small for its items', async () => {
    expectReason(await failure(() => format.serializeMetadataRegion(META_ITEMS, 64 * KiB)), 'value-unencodable', {
      structure: 'metadata region',
    });
  });

  it('value-unencodable: a log data write that is not 4 KiB', async () => {
    const spec = { sequenceNumber: 1n, tail: 0, logGuid: GUID_A, flushedFileOffset: MiB, lastFileOffset: MiB };
    const writes = [{ fileOffset: PAYLOAD_SECTOR, data: new Uint8Array(100) }];
    expectReason(await failure(() => format.buildLogEntry({ ...spec, writes })), 'value-unencodable', { structure: 'log entry' });
  });

  it('value-unencodable: a GUID that is not one', async () => {
    expectReason(await failure(() => format.serializeHeader({ ...HEADER, logGuid: 'not-a-guid' })), 'value-unencodable');
  });
});

describe('reasons from the options and limits', () => {
  it('invalid-option: encoder, writer, decoder and openVhdx options out of range', async () => {
    expectReason(await failure(() => new VhdxEncoderStream({ virtualSize: 100 })), 'invalid-option', {
      structure: 'options',
      field: 'virtualSize',
    });
    expectReason(await failure(() => new VhdxEncoderStream({ virtualSize: MiB, blockSize: 3 * MiB })), 'invalid-option', {
      structure: 'options',
      field: 'blockSize',
    });
    expectReason(await failure(() => new VhdxWriterStream({ write() {} }, { logSize: 4096 })), 'invalid-option', {
      structure: 'options',
      field: 'logSize',
    });
    expectReason(await failure(() => new VhdxDecoderStream({ maxLogBytes: -1 })), 'invalid-option', {
      structure: 'options',
      field: 'maxLogBytes',
    });
    await expectRejection(() => openVhdx(image(), { maxBatBytes: 0.5 }), 'invalid-option', { structure: 'options', field: 'maxBatBytes' });
    expectReason(await failure(() => resolveLimits({ maxMetadataBytes: 0 })), 'invalid-option', { field: 'maxMetadataBytes' });
  });

  it('bat-over-limit: a BAT over maxBatBytes', async () => {
    await expectRejection(() => openVhdx(image(), { maxBatBytes: 8 }), 'bat-over-limit', { structure: 'bat' });
    await expectRejection(async () => decode(image(), { maxBatBytes: 8 }), 'bat-over-limit', { structure: 'bat' });
  });

  it('metadata-over-limit: a metadata region over maxMetadataBytes', async () => {
    await expectRejection(() => openVhdx(image(), { maxMetadataBytes: 64 * KiB }), 'metadata-over-limit', {
      structure: 'metadata region',
      offset: META,
    });
    await expectRejection(async () => decode(image(), { maxMetadataBytes: 64 * KiB }), 'metadata-over-limit', {
      structure: 'metadata region',
    });
  });

  it('log-over-limit: a dirty log over maxLogBytes', async () => {
    const file = dirty([{}]);
    await expectRejection(() => openVhdx(file, { maxLogBytes: 4096 }), 'log-over-limit', { structure: 'log', offset: LOG });
    await expectRejection(async () => decode(file, { maxLogBytes: 4096 }), 'log-over-limit', { structure: 'log' });
  });

  it('checkLimit: the caller names the reason, the limit follows from it', async () => {
    const limits = resolveLimits({ maxBatBytes: 10, maxMetadataBytes: 20, maxLogBytes: 30 });
    expect(() => checkLimit('bat-over-limit', 10, limits)).not.toThrow();
    expectReason(await failure(() => checkLimit('bat-over-limit', 11, limits, 5)), 'bat-over-limit', { structure: 'bat', offset: 5 });
    expect(() => checkLimit('metadata-over-limit', 20, limits)).not.toThrow();
    expectReason(await failure(() => checkLimit('metadata-over-limit', 21, limits)), 'metadata-over-limit', {
      structure: 'metadata region',
    });
    expect(() => checkLimit('log-over-limit', 30, limits)).not.toThrow();
    expectReason(await failure(() => checkLimit('log-over-limit', 31, limits)), 'log-over-limit', { structure: 'log' });
  });
});

describe('reasons from the http source', () => {
  type Handler = (req: IncomingMessage, res: ServerResponse) => void;
  let server: Server;
  let handler: Handler = (_, res) => res.end();
  let url = '';

  beforeAll(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    url = `http://127.0.0.1:${address.port}/disk.vhdx`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  /** Answers every Range request with 206 and `body(start, end)`, claiming `size` in Content-Range. */
  const partial =
    (size: string, body: (start: number, end: number) => Uint8Array): Handler =>
    (req, res) => {
      const [start, end] = (/bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '') ?? []).slice(1).map(Number) as [number, number];
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}` });
      res.end(body(start, end));
    };

  it('request-failed: nothing listens on the port', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const nowhere = `http://127.0.0.1:${port}/disk.vhdx`;
    await expectRejection(() => httpSource(nowhere), 'request-failed', { structure: 'source' });
    await expectRejection(() => openVhdx(nowhere), 'request-failed', { structure: 'source' });
  });

  it('range-not-supported: a 200 answer to a Range request', async () => {
    handler = (_, res) => res.end('the whole file');
    await expectRejection(() => httpSource(url), 'range-not-supported', { structure: 'source' });
    await expectRejection(() => openVhdx(url), 'range-not-supported', { structure: 'source' });
  });

  it('http-status: a 404 answer', async () => {
    handler = (_, res) => {
      res.statusCode = 404;
      res.end();
    };
    await expectRejection(() => httpSource(url), 'http-status', { structure: 'source', offset: 0 });
    await expectRejection(() => openVhdx(url), 'http-status', { structure: 'source' });
  });

  it('http-no-size: Content-Range without a total size', async () => {
    handler = partial('*', () => new Uint8Array(1));
    await expectRejection(() => httpSource(url), 'http-no-size', { structure: 'source' });
    await expectRejection(() => openVhdx(url), 'http-no-size', { structure: 'source' });
  });

  it('http-short-body: fewer bytes than the range asked for', async () => {
    handler = partial(String(2 * MiB), (start, end) => new Uint8Array(start === end ? 1 : 10));
    const source = await httpSource(url);
    await expectRejection(() => source.read(0, 100), 'http-short-body', { structure: 'source', offset: 0 });
    await expectRejection(() => openVhdx(url), 'http-short-body', { structure: 'source' });
  });
});

describe('reasons from the scan and the chunk type', () => {
  it('source-truncated: a source that ends before its size, with and without readInto', async () => {
    const short = { size: 2 * MiB, read: async (_: number, length: number) => new Uint8Array(Math.min(length, 1000)) };
    await expectRejection(() => scanAllocation(short, { blockSize: MiB }), 'source-truncated', { structure: 'source', offset: 1000 });
    const shortInto = { ...short, readInto: async () => 10 };
    await expectRejection(() => scanAllocation(shortInto, { blockSize: MiB }), 'source-truncated', { structure: 'source', offset: 10 });
  });

  it('unsupported-chunk: a SharedArrayBuffer (not a BufferSource) written to each stream', async () => {
    const shared = () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new SharedArrayBuffer(512) as unknown as Uint8Array);
          c.close();
        },
      });
    await expectRejection(() => collect(shared().pipeThrough(new VhdxEncoderStream({ virtualSize: MiB }))), 'unsupported-chunk', {
      structure: 'input',
    });
    // the decoder's writable alone: its readable is not errored by a refused chunk (reported to the streams layer)
    const decoderWrite = () => new VhdxDecoderStream().writable.getWriter().write(new SharedArrayBuffer(512) as unknown as Uint8Array);
    await expectRejection(decoderWrite, 'unsupported-chunk', { structure: 'input' });
    await expectRejection(() => shared().pipeTo(new VhdxWriterStream({ write() {} })), 'unsupported-chunk', { structure: 'input' });
  });
});

// ---- the layers above: image, streams, node --------------------------------

describe('reasons from the image, stream and node layers', () => {
  describe('image: header section', () => {
    it('headers-invalid: both headers fail their checksum', async () => {
      const file = imageWith((f) => {
        flip(f, 64 * KiB + 100);
        flip(f, 128 * KiB + 100);
      });
      await expectRejection(() => openVhdx(file), 'headers-invalid', { structure: 'headers' });
      await expectRejection(async () => decode(file), 'headers-invalid', { structure: 'headers' });
    });

    it('header-checksum: checkVhdx names the damaged copy', async () => {
      const report = await checkVhdx(imageWith((f) => flip(f, 64 * KiB + 100)));
      expectProblem(report, 'header-checksum', 'header 1');
    });

    it('region-table-checksum: checkVhdx names the damaged copy', async () => {
      const report = await checkVhdx(imageWith((f) => flip(f, 256 * KiB + 40000)));
      expectProblem(report, 'region-table-checksum', 'region table 2');
    });

    it('region-tables-invalid: both tables misspell "regi"', async () => {
      const file = imageWithRegionTables((t) => t.set(ascii('regx'), 0));
      await expectRejection(() => openVhdx(file), 'region-tables-invalid', { structure: 'region tables' });
      await expectRejection(async () => decode(file), 'region-tables-invalid', { structure: 'region tables' });
    });

    it('region-tables-differ: two valid tables, different bytes', async () => {
      const file = image();
      const second = file.subarray(256 * KiB, 256 * KiB + format.REGION_TABLE_SIZE);
      second[12] = 1; // the reserved field
      format.storeChecksum(second, 4);
      expectProblem(await checkVhdx(file), 'region-tables-differ', 'region table 2');
    });

    it('header-section-truncated: a file that ends inside the region tables', async () => {
      const file = image().subarray(0, 300 * KiB);
      await expectRejection(() => openVhdx(file), 'header-section-truncated', { structure: 'header section' });
    });
  });

  describe('image: regions', () => {
    it('region-overlap: the metadata region on top of the log', async () => {
      const file = imageWithRegionTables((t) => poke64(t, entryAt(0) + 16, MiB));
      await expectRejection(() => openVhdx(file), 'region-overlap');
      await expectRejection(async () => decode(file), 'region-overlap');
    });

    it('region-unknown-required: a required region nobody knows', async () => {
      const file = buildSynthetic({
        raw,
        layout: 'hyperv',
        extraRegions: [{ guid: UNKNOWN_GUID, fileOffset: 20 * MiB, length: MiB, required: true }],
      });
      await expectRejection(() => openVhdx(file), 'region-unknown-required');
      await expectRejection(async () => decode(file), 'region-unknown-required');
    });

    it('region-missing: no metadata region', async () => {
      const file = imageWithRegionTables((t) => {
        format.writeGuid(t, entryAt(0), UNKNOWN_GUID);
        dataView(t).setUint32(entryAt(0) + 28, 0, true);
      });
      await expectRejection(() => openVhdx(file), 'region-missing');
      await expectRejection(async () => decode(file), 'region-missing');
    });

    it('region-past-eof: a BAT region past the end of the file', async () => {
      await expectRejection(() => openVhdx(imageWithRegionTables((t) => poke64(t, entryAt(1) + 16, 400 * MiB))), 'region-past-eof');
    });
  });

  describe('image: metadata', () => {
    it('metadata-unknown-required: a required item nobody knows', async () => {
      const file = buildSynthetic({
        raw,
        layout: 'hyperv',
        extraMetadata: [{ id: UNKNOWN_GUID, required: true, data: new Uint8Array(8) }],
      });
      await expectRejection(() => openVhdx(file), 'metadata-unknown-required', { structure: 'metadata table' });
      await expectRejection(async () => decode(file), 'metadata-unknown-required', { structure: 'metadata table' });
    });

    it('metadata-item-missing: no virtual disk id', async () => {
      const file = imageWith((f, dv) => {
        format.writeGuid(f, metaEntryAt(2), UNKNOWN_GUID);
        dv.setUint32(metaEntryAt(2) + 24, 0, true);
      });
      await expectRejection(() => openVhdx(file), 'metadata-item-missing', { structure: 'metadata table' });
      await expectRejection(async () => decode(file), 'metadata-item-missing', { structure: 'metadata table' });
    });

    // the eleventh of test/decoder.test.ts's metadata mutations
    it('virtual-size-unaligned: virtual size not a sector multiple', async () => {
      const file = imageWith((f) => poke64(f, ITEMS + 8, 6 * MiB + 100));
      await expectRejection(() => openVhdx(file), 'virtual-size-unaligned', { structure: 'metadata item' });
      await expectRejection(async () => decode(file), 'virtual-size-unaligned', { structure: 'metadata item' });
    });
  });

  describe('image: BAT', () => {
    const withBlock1 = (state: number, offsetMiB: number) =>
      imageWith((f) => format.writeBatEntry(f.subarray(BAT), 1, { state, offsetMiB }));

    it('bat-region-too-small: a 200 GiB disk with a 1 MiB BAT region', async () => {
      const file = imageWith((f) => poke64(f, ITEMS + 8, 200 * 1024 * MiB));
      await expectRejection(() => openVhdx(file), 'bat-region-too-small', { structure: 'bat' });
      await expectRejection(async () => decode(file), 'bat-region-too-small', { structure: 'bat' });
    });

    it.each([
      ['bat-entry-state', 'an invalid state', 5, 4],
      ['bat-entry-overlap', 'two blocks at the same offset', 6, 4],
      ['bat-entry-in-region', 'a block on top of the BAT', 6, 3],
      ['bat-entry-past-eof', 'a block past the end of the file', 6, 500],
    ] as const)('%s: %s', async (reason, _, state, offsetMiB) => {
      await expectRejection(() => openVhdx(withBlock1(state, offsetMiB)), reason);
      // a stream cannot tell a BAT entry past the end from a cut file: see 'input-truncated' below
      if (reason !== 'bat-entry-past-eof') await expectRejection(async () => decode(withBlock1(state, offsetMiB)), reason);
    });
  });

  describe('image: log', () => {
    it('log-entry-skipped and log-no-sequence: a dirty log whose only entry is torn', async () => {
      const report = await checkVhdx(dirty([{ torn: true }]));
      expectProblem(report, 'log-entry-skipped', 'log entry');
      expectProblem(report, 'log-no-sequence', 'log');
    });

    it('log-active-empty: a header naming an active log that holds no entry of it (a warning; the file reads as it stands)', async () => {
      const clean = image();
      const report = await checkVhdx(dirty([], clean));
      expect(report.ok).toBe(true);
      expect(report.problems).toEqual([expect.objectContaining({ reason: 'log-active-empty', structure: 'log', severity: 'warning' })]);
      expectProblem(report, 'log-active-empty', 'log');
      expect(report.info?.log.state).toBe('active-empty');
      const opened = await openVhdx(dirty([], clean));
      const [got, want] = [await opened.read(0, raw.length), await (await openVhdx(clean)).read(0, raw.length)];
      expect(Buffer.compare(got, want)).toBe(0);
      // an entry of the log that is torn is still damage: no sequence to replay
      expect((await checkVhdx(dirty([{ torn: true }], clean))).ok).toBe(false);
    });

    it('log-flushed-past-eof: the log says more was flushed than the file holds', async () => {
      const file = image();
      const lost = dirty([{ flushedFileOffset: file.length + MiB, lastFileOffset: file.length + MiB }], file);
      // openVhdx only: VhdxDecoderStream closes its output before it compares the input's length (reported to the streams layer)
      await expectRejection(() => openVhdx(lost), 'log-flushed-past-eof', { structure: 'log entry', field: 'flushed_file_offset' });
      // and a writable open refuses it before writing anything
      const writable = new RecordingFile(lost.slice());
      await expectRejection(() => openVhdx(writable, { writable: true }), 'log-flushed-past-eof');
      expect(writable.ops).toEqual([]);
    });

    it('log-not-replayable: a writable open of a dirty log whose only entry is torn writes nothing', async () => {
      const file = new RecordingFile(dirty([{ torn: true }]));
      await expectRejection(() => openVhdx(file, { writable: true }), 'log-not-replayable', { structure: 'log' });
      expect(file.ops).toEqual([]);
    });

    it('log-data-overflow: a zero descriptor turned into a data descriptor', async () => {
      const file = patchEntry(dirty([{ writes: [{ fileOffset: PAYLOAD_SECTOR, zeroLength: 4096 }] }]), 4096, (e) =>
        e.set(ascii('desc'), 64),
      );
      await expectRejection(() => openVhdx(file), 'log-data-overflow', { structure: 'log entry' });
    });

    it('log-descriptor-invalid: a data sector without its "data" signature', async () => {
      const file = patchEntry(dirty([{}]), 8192, (e) => e.set(ascii('datx'), 4096));
      await expectRejection(() => openVhdx(file), 'log-descriptor-invalid', { structure: 'log entry' });
    });

    it('log-descriptor-target: a write into the header section', async () => {
      const file = dirty([{ writes: [{ fileOffset: 64 * KiB, zeroLength: 4096 }] }]);
      await expectRejection(() => openVhdx(file), 'log-descriptor-target', { structure: 'log entry' });
    });
  });

  describe('image: reads', () => {
    it('image-not-writable: a write, discard or flush on an image opened read-only, or closed', async () => {
      const opened = await openVhdx(image());
      await expectRejection(() => opened.write(0, new Uint8Array(1)), 'image-not-writable');
      await expectRejection(() => opened.discard(0, 1), 'image-not-writable');
      await expectRejection(() => opened.flush(), 'image-not-writable');
      const writable = await openVhdx(new RecordingFile(image()), { writable: true });
      await writable.close();
      await expectRejection(() => writable.write(0, new Uint8Array(1)), 'image-not-writable');
    });

    it('operation-not-supported: compacting a fixed disk (nothing written)', async () => {
      const file = new RecordingFile(buildSynthetic({ raw: makeRaw(2 * MiB, 'data'), fixed: true }));
      await expectRejection(() => compactVhdx(file), 'operation-not-supported', { structure: 'metadata item' });
      expect(file.ops).toEqual([]);
    });

    it('shrink-not-requested and shrink-holds-data: a smaller size without shrink, and one that cuts off data (nothing written)', async () => {
      const file = new RecordingFile(buildSynthetic({ raw: makeRaw(4 * MiB, 'data') }));
      await expectRejection(() => resizeVhdx(file, 2 * MiB), 'shrink-not-requested', { structure: 'options', field: 'size' });
      await expectRejection(() => resizeVhdx(file, 2 * MiB, { shrink: true }), 'shrink-holds-data', {
        structure: 'payload',
        offset: 2 * MiB,
      });
      expect(file.ops).toEqual([]);
    });

    it('parent-has-other-children: committing a child whose parent has another child beside it (nothing written)', async () => {
      const folder = mkdtempSync(join(tmpdir(), 'vhdx-reasons-commit-'));
      try {
        writeFileSync(join(folder, 'base.vhdx'), buildSynthetic({ raw: makeRaw(2 * MiB, 'data') }));
        await node.createChildFile(join(folder, 'a.avhdx'), join(folder, 'base.vhdx'));
        await node.createChildFile(join(folder, 'b.avhdx'), join(folder, 'base.vhdx'));
        const before = readFileSync(join(folder, 'base.vhdx'));
        await expectRejection(() => node.commitVhdx(join(folder, 'a.avhdx')), 'parent-has-other-children', { structure: 'parent locator' });
        expect(Buffer.compare(readFileSync(join(folder, 'base.vhdx')), before)).toBe(0);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });

    it('base-not-in-chain and parent-is-self: a commit base that is not below the child, a child named as its own parent (nothing written)', async () => {
      const folder = mkdtempSync(join(tmpdir(), 'vhdx-reasons-base-'));
      try {
        writeFileSync(join(folder, 'base.vhdx'), buildSynthetic({ raw: makeRaw(2 * MiB, 'data') }));
        writeFileSync(join(folder, 'other.vhdx'), buildSynthetic({ raw: makeRaw(2 * MiB, 'data') }));
        await node.createChildFile(join(folder, 'a.avhdx'), join(folder, 'base.vhdx'));
        const before = readFileSync(join(folder, 'a.avhdx'));
        await expectRejection(() => node.commitVhdx(join(folder, 'a.avhdx'), { base: join(folder, 'other.vhdx') }), 'base-not-in-chain', {
          structure: 'options',
          field: 'base',
        });
        await expectRejection(() => node.setParent(join(folder, 'a.avhdx'), join(folder, 'a.avhdx')), 'parent-is-self', {
          structure: 'options',
          field: 'parent',
        });
        expect(Buffer.compare(readFileSync(join(folder, 'a.avhdx')), before)).toBe(0);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });

    it('range-outside-disk: a read before the start and past the end', async () => {
      const opened = await openVhdx(image());
      await expectRejection(() => opened.read(-1, 2), 'range-outside-disk');
      await expectRejection(() => opened.read(6 * MiB - 1, 2), 'range-outside-disk');
    });

    it('payload-truncated: a source that returns short payload reads', async () => {
      const file = image();
      const source = {
        size: file.length,
        read: async (offset: number, length: number) => file.slice(offset, offset + (offset >= 4 * MiB ? Math.min(length, 100) : length)),
      };
      const opened = await openVhdx(source);
      await expectRejection(() => opened.read(0, 4096), 'payload-truncated');
    });
  });

  describe('streams', () => {
    const sink = () => ({ async write() {} });
    const writeAll = async (target: VhdxWriterStream, data: Uint8Array[]) => {
      const w = target.getWriter();
      for (const d of data) await w.write(d);
      await w.close();
      return target.result;
    };

    it('input-truncated: less input than virtualSize', async () => {
      await expectRejection(() => encode(new Uint8Array(MiB), { virtualSize: 2 * MiB }), 'input-truncated', {
        structure: 'input',
        offset: MiB,
      });
      await expectRejection(
        () => writeAll(new VhdxWriterStream(sink(), { virtualSize: 2 * MiB }), [new Uint8Array(MiB)]),
        'input-truncated',
        {
          structure: 'input',
        },
      );
    });

    it('input-truncated: a VHDX whose BAT places a block past the end of the input', async () => {
      const file = imageWith((f) => format.writeBatEntry(f.subarray(BAT), 1, { state: 6, offsetMiB: 500 }));
      await expectRejection(async () => decode(file), 'input-truncated');
    });

    it('header-section-truncated: VhdxDecoderStream given a file that ends inside the region tables', async () => {
      await expectRejection(async () => decode(image().subarray(0, 300 * KiB)), 'header-section-truncated', {
        structure: 'header section',
      });
    });

    it('input-too-long: more input than virtualSize, one message shape with the limit as offset', async () => {
      const limit = { offset: MiB };
      await expectRejection(() => encode(new Uint8Array(2 * MiB), { virtualSize: MiB }), 'input-too-long', limit);
      const written = writeAll(new VhdxWriterStream(sink(), { virtualSize: MiB }), [new Uint8Array(2 * MiB)]);
      const e = await failure(() => written);
      expectReason(e, 'input-too-long', limit);
      expect((e as VhdxError).message).toMatch(/the input is longer than virtualSize \(1048576 bytes\)$/);
    });

    it('input-empty: the writer gets no input and no virtualSize', async () => {
      await expectRejection(() => writeAll(new VhdxWriterStream(sink()), []), 'input-empty', { structure: 'input' });
    });

    it('map-mismatch: an allocation map for another size', async () => {
      const map = { virtualSize: 2 * MiB, blockSize: MiB, present: new Uint8Array(2) };
      await expectRejection(() => encode(new Uint8Array(4 * MiB), { virtualSize: 4 * MiB, allocationMap: map }), 'map-mismatch', {
        structure: 'options',
        field: 'allocationMap',
      });
    });

    it('map-contradicts-input: data in a block the map says is all zero', async () => {
      const map = { virtualSize: 2 * MiB, blockSize: MiB, present: new Uint8Array(2) };
      await expectRejection(() => encode(makeRaw(2 * MiB, 'data'), { allocationMap: map }), 'map-contradicts-input', {
        structure: 'input',
        offset: 0,
      });
    });

    it('reorder-buffer-full: blocks stored in reverse, decoded within 1 MiB', async () => {
      await expectRejection(async () => decode(buildSynthetic({ raw, order: 'reverse' }), { maxBufferBytes: MiB }), 'reorder-buffer-full');
    });

    it('cancelled: the decoder output cancelled before the image was read', async () => {
      const decoder = new VhdxDecoderStream();
      await decoder.readable.cancel();
      await expectRejection(() => decoder.info, 'cancelled');
    });

    it('unsupported-target: a number as the target', async () => {
      await expectRejection(() => writeAll(new VhdxWriterStream(42 as never), [new Uint8Array(512)]), 'unsupported-target');
    });

    it('create-failed: a target path in a directory that does not exist', async () => {
      const path = join(tmpdir(), 'no-such-directory-vhdx-stream', 'out.vhdx');
      await expectRejection(() => writeAll(new node.VhdxWriterStream(path), [new Uint8Array(512)]), 'create-failed');
    });

    it('write-failed: a target whose writes fail', async () => {
      const failing = { write: () => Promise.reject(new Error('disk full')) };
      await expectRejection(() => writeAll(new VhdxWriterStream(failing), [new Uint8Array(512)]), 'write-failed');
    });
  });

  describe('sources and node', () => {
    let dir = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'vhdx-errors-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('unsupported-source: a number as the input', async () => {
      await expectRejection(() => openVhdx(42 as never), 'unsupported-source');
    });

    it('open-failed: a path that does not exist', async () => {
      await expectRejection(() => node.openVhdx(join(dir, 'missing.vhdx')), 'open-failed');
    });

    it('read-failed: a source whose reads fail', async () => {
      const broken = { size: 2 * MiB, read: () => Promise.reject(new Error('EIO')) };
      await expectRejection(() => openVhdx(broken), 'read-failed');
    });

    it('output-is-input: converting a file onto itself', async () => {
      const path = join(dir, 'disk.raw');
      writeFileSync(path, new Uint8Array(MiB));
      await expectRejection(() => node.convertRawFileToVhdx(path, path), 'output-is-input');
    });

    it('output-exists: a new empty child over an existing file', async () => {
      const parent = join(dir, 'exists-parent.vhdx');
      const taken = join(dir, 'taken.avhdx');
      writeFileSync(parent, await encode(new Uint8Array(MiB), { virtualSize: MiB, blockSize: MiB }));
      writeFileSync(taken, 'keep');
      await expectRejection(() => node.createChildFile(taken, parent), 'output-exists');
      expect(readFileSync(taken, 'utf8')).toBe('keep');
    });

    it('output-has-children: replacing a VHDX a child beside it reads through', async () => {
      const parent = join(dir, 'family-parent.vhdx');
      writeFileSync(parent, await encode(new Uint8Array(MiB), { virtualSize: MiB, blockSize: MiB }));
      await node.createChildFile(join(dir, 'family-child.avhdx'), parent);
      expect(await node.childrenBeside(parent)).toEqual([join(dir, 'family-child.avhdx')]);
      await expectRejection(() => refuseReplacingParent(parent), 'output-has-children');
    });
  });
});

// ---- differencing files and their chains ------------------------------------

describe('reasons from differencing files and chains', () => {
  // a 4 MiB disk over the synthetic image's base; the child stores block 1 in part
  const disk = blockPatternRaw(4 * MiB, MiB, (b) => b !== 2);
  const base = buildSynthetic({ raw: disk, layout: 'hyperv' });
  const partial: ChildBlock = { state: 'partial', data: new Uint8Array(MiB).fill(9), sectors: (k) => k < 3 };
  // an override may say undefined to leave a field out
  const child = (over: { [K in keyof ChildSpec]?: ChildSpec[K] | undefined } = {}) =>
    buildChild({
      virtualSize: disk.length,
      blockSize: MiB,
      lss: 512,
      parentLinkage: dataWriteGuidOf(base),
      relativePath: 'base.vhdx',
      blocks: new Map([[1, partial]]),
      ...(over as Partial<ChildSpec>),
    });
  const scratch = mkdtempSync(join(tmpdir(), 'vhdx-chain-errors-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('reads, for contrast: the child over its parent', async () => {
    const image = await openVhdx(child(), { parent: base });
    const got = await image.read(MiB, 2048);
    expect([got[0], got[3 * 512 - 1], got[3 * 512]]).toEqual([9, 9, disk[MiB + 3 * 512]]);
  });

  it('differencing-unsupported: a parent locator whose type is not a VHDX parent', async () => {
    const file = child({ locatorType: UNKNOWN_GUID });
    await expectRejection(() => openVhdx(file, { parent: base }), 'differencing-unsupported', { structure: 'parent locator' });
    await expectRejection(async () => decode(file, { parent: await openVhdx(base) }), 'differencing-unsupported', {
      structure: 'parent locator',
    });
  });

  it('metadata-item-missing: HasParent set but no Parent Locator item', async () => {
    await expectRejection(() => openVhdx(child({ noLocator: true }), { parent: base }), 'metadata-item-missing', {
      structure: 'metadata table',
    });
    await expectRejection(() => openVhdx(buildSynthetic({ raw, layout: 'hyperv', hasParent: true })), 'metadata-item-missing');
  });

  it.each([
    [
      'parent_linkage not a GUID in braces',
      { locatorEntries: { parent_linkage: 'not-a-guid', relative_path: 'base.vhdx' } },
      'parent_linkage',
    ],
    ['no parent_linkage', { locatorEntries: { relative_path: 'base.vhdx' } }, 'parent_linkage'],
    [
      'a parent_linkage2 without braces',
      { parentLinkage2: undefined, locatorEntries: { parent_linkage: `{${GUID_A}}`, parent_linkage2: GUID_A, relative_path: 'b' } },
      'parent_linkage2',
    ],
  ] as const)('locator-malformed: %s', async (_, over, field) => {
    await expectRejection(() => openVhdx(child(over), { parent: base }), 'locator-malformed', { structure: 'parent locator', field });
  });

  it('locator-malformed: no path to look for the parent in', async () => {
    await expectRejection(
      () => openVhdx(child({ locatorEntries: { parent_linkage: `{${GUID_A}}` } }), { parent: base }),
      'locator-malformed',
      {
        structure: 'parent locator',
      },
    );
  });

  it('bitmap-missing: a PARTIALLY_PRESENT block whose chunk has no sector bitmap', async () => {
    const file = child({ dropBitmaps: [0] });
    // the sector bitmap entry of chunk 0 follows its 4096 payload entries
    await expectRejection(() => openVhdx(file, { parent: base }), 'bitmap-missing', { structure: 'bat', offset: 3 * MiB + 4096 * 8 });
    await expectRejection(async () => decode(file, { parent: await openVhdx(base) }), 'bitmap-missing', { structure: 'bat' });
    expectProblem(await checkVhdx(file, { parent: base }), 'bitmap-missing', 'bat');
  });

  it('bitmap-over-limit: more sector bitmap bytes than maxBitmapBytes', async () => {
    await expectRejection(() => openVhdx(child(), { parent: base, maxBitmapBytes: 100 }), 'bitmap-over-limit', {
      structure: 'sector bitmap',
    });
    await expectRejection(async () => decode(child(), { parent: await openVhdx(base), maxBitmapBytes: 100 }), 'bitmap-over-limit');
  });

  it('parent-missing: bytes with no parent option, a path whose relative_path names nothing, a stream without parent', async () => {
    await expectRejection(() => openVhdx(child()), 'parent-missing', { structure: 'parent locator' });
    const path = join(scratch, 'orphan.avhdx');
    writeFileSync(path, child({ relativePath: 'gone\\base.vhdx' }));
    const err = await failure(() => node.openVhdx(path));
    expectReason(err, 'parent-missing', { structure: 'parent locator' });
    expect((err as VhdxError).message).toContain(join(scratch, 'gone', 'base.vhdx'));
    await expectRejection(async () => decode(child()), 'parent-missing');
    expectProblem(await node.checkVhdx(path), 'parent-missing', 'parent locator');
  });

  it('parent-linkage-mismatch: a parent whose DataWriteGuid is not the one named, naming both GUIDs', async () => {
    const named = testGuid();
    const err = await failure(() => openVhdx(child({ parentLinkage: named }), { parent: base }));
    expectReason(err, 'parent-linkage-mismatch', { structure: 'parent locator', field: 'parent_linkage' });
    expect((err as VhdxError).message).toContain(named);
    expect((err as VhdxError).message).toContain(dataWriteGuidOf(base));
    await expectRejection(async () => decode(child({ parentLinkage: named }), { parent: await openVhdx(base) }), 'parent-linkage-mismatch');
    // found by path: the file there is another disk
    writeFileSync(join(scratch, 'base.vhdx'), base);
    const path = join(scratch, 'stale.avhdx');
    writeFileSync(path, child({ parentLinkage: named }));
    await expectRejection(() => node.openVhdx(path), 'parent-linkage-mismatch');
  });

  it('parent-sector-size-mismatch: a 4096-byte-sector child of a 512-byte-sector parent', async () => {
    const file = child({ lss: 4096, blocks: new Map() });
    await expectRejection(() => openVhdx(file, { parent: base }), 'parent-sector-size-mismatch', {
      structure: 'metadata item',
      field: 'Logical Sector Size',
    });
    await expectRejection(async () => decode(file, { parent: await openVhdx(base) }), 'parent-sector-size-mismatch');
  });

  it('parent-size-mismatch: a child of another virtual size', async () => {
    const file = child({ virtualSize: 2 * MiB, blocks: new Map() });
    await expectRejection(() => openVhdx(file, { parent: base }), 'parent-size-mismatch', {
      structure: 'metadata item',
      field: 'Virtual Disk Size',
    });
    await expectRejection(async () => decode(file, { parent: await openVhdx(base) }), 'parent-size-mismatch');
  });

  it('chain-loop: two children naming each other, and a child whose relative_path names itself, end at once', async () => {
    const [a, b] = [testGuid(), testGuid()];
    const first = child({ dataWriteGuid: a, parentLinkage: b, blocks: new Map() });
    const second = child({ dataWriteGuid: b, parentLinkage: a, blocks: new Map() });
    // bounded work, not time: the loop is seen on the first repeat, after two lookups
    let lookups = 0;
    const resolveParent = ({ locator }: { locator: Record<string, string> }) => {
      lookups++;
      return locator.parent_linkage === `{${b}}` ? second : first;
    };
    await expectRejection(() => openVhdx(first, { resolveParent }), 'chain-loop', {
      structure: 'parent locator',
    });
    const self = join(scratch, 'self.avhdx');
    writeFileSync(self, child({ relativePath: 'self.avhdx' }));
    expect(lookups).toBeLessThanOrEqual(2);
    await expectRejection(() => node.openVhdx(self), 'chain-loop');
  });

  it('chain-too-deep: an endless chain stops at maxChainDepth (default 16), having made depth + 1 files', async () => {
    let made = 0;
    const endless = () => {
      made++;
      return child({ parentLinkage: testGuid(), blocks: new Map() });
    };
    // every child made names a new parent: only the depth limit ends it
    const resolveParent = () => endless();
    await expectRejection(() => openVhdx(endless(), { resolveParent, ignoreLinkage: true }), 'chain-too-deep', {
      structure: 'parent locator',
    });
    expect(made).toBe(17);
    made = 0;
    await expectRejection(() => openVhdx(endless(), { resolveParent, ignoreLinkage: true, maxChainDepth: 2 }), 'chain-too-deep');
    expect(made).toBe(3);
    // the stream: a parent image whose chain already holds three parents, under a child
    const byGuid = new Map([[dataWriteGuidOf(base), base]]);
    let below = base;
    for (let i = 0; i < 3; i++) {
      below = child({ parentLinkage: dataWriteGuidOf(below), blocks: new Map() });
      byGuid.set(dataWriteGuidOf(below), below);
    }
    const parent = await openVhdx(below, { resolveParent: ({ locator }) => byGuid.get(locator.parent_linkage!.slice(1, -1)) });
    const top = child({ parentLinkage: dataWriteGuidOf(below), blocks: new Map() });
    expect(await decode(top, { parent, maxChainDepth: 4 })).toHaveLength(disk.length);
    await expectRejection(async () => decode(top, { parent, maxChainDepth: 3 }), 'chain-too-deep');
  });
});

describe('coverage', () => {
  it('every reason is produced by a test here, covered elsewhere or unreachable (each listed once)', () => {
    const lists = [COVERED_ELSEWHERE, UNREACHABLE_IN_TESTS].map((l) => Object.keys(l));
    const listed = lists.flat();
    expect(new Set(listed).size, 'a reason in two lists').toBe(listed.length);
    for (const reason of listed)
      expect(seen.has(reason as VhdxErrorReason), `${reason} is produced here; take it off its list`).toBe(false);
    const missing = Object.keys(REASON_CODES).filter((r) => !seen.has(r as VhdxErrorReason) && !listed.includes(r));
    expect(missing).toEqual([]);
  });

  it('each reason covered elsewhere is asserted in the file named for it (in code, not a comment)', () => {
    for (const [reason, file] of Object.entries(COVERED_ELSEWHERE)) {
      expect(reasonsAssertedIn(file), `${reason} in ${file}`).toContain(reason);
    }
  });
});

/** The values of `reason: '...'` properties in the code of a test file (comments and strings do not count). */
function reasonsAssertedIn(file: string): Set<string> {
  const text = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAssignment(node) && node.name.getText() === 'reason' && ts.isStringLiteralLike(node.initializer))
      found.add(node.initializer.text);
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true));
  return found;
}
