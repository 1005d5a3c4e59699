// The structure codec: serialize(parse(x)) == x for valid structures, and
// precise VhdxErrors for invalid ones.
import { describe, expect, it } from 'vitest';
import { VhdxError } from '../src/index.js';
import * as format from '../src/format/index.js';
import { parseMetadataItems } from './helpers/metadata.js';

const MiB = 1024 * 1024;
const g = (n: number) => `${String(n).repeat(8)}-1111-4111-8111-111111111111`;

function errorOf(fn: () => unknown): VhdxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VhdxError);
    return err as VhdxError;
  }
  throw new Error('expected an error');
}

describe('GUIDs', () => {
  it('uses Microsoft byte order: the BAT GUID is stored as 66 77 C2 2D 23 F6 00 42 9D 64 ...', () => {
    const b = new Uint8Array(16);
    format.writeGuid(b, 0, format.GUIDS.batRegion);
    expect(Array.from(b.subarray(0, 10))).toEqual([0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42, 0x9d, 0x64]);
    expect(format.readGuid(b, 0)).toBe(format.GUIDS.batRegion);
  });
});

describe('round trips', () => {
  it('file identifier', () => {
    const bytes = format.serializeFileIdentifier({ creator: 'Microsoft Windows 10.0.19041.0' });
    const parsed = format.parseFileIdentifier(bytes);
    expect(parsed.creator).toBe('Microsoft Windows 10.0.19041.0');
    expect(Buffer.compare(format.serializeFileIdentifier(parsed), bytes)).toBe(0);
  });

  it('header', () => {
    const h = {
      sequenceNumber: 0xfedcba9876543210n,
      fileWriteGuid: g(1),
      dataWriteGuid: g(2),
      logGuid: g(3),
      logVersion: 0,
      version: 1,
      logLength: 8 * MiB,
      logOffset: 3 * MiB,
    };
    const bytes = format.serializeHeader(h);
    const parsed = format.parseHeader(bytes, 65536);
    expect(parsed).toEqual(h);
    expect(Buffer.compare(format.serializeHeader(parsed), bytes)).toBe(0);
  });

  it('region table', () => {
    const t = {
      entries: [
        { guid: format.GUIDS.batRegion, fileOffset: 3 * MiB, length: 2 * MiB, required: true },
        { guid: format.GUIDS.metadataRegion, fileOffset: 2 * MiB, length: MiB, required: false },
      ],
    };
    const bytes = format.serializeRegionTable(t);
    const parsed = format.parseRegionTable(bytes, 196608);
    expect(parsed).toEqual(t);
    expect(Buffer.compare(format.serializeRegionTable(parsed), bytes)).toBe(0);
  });

  it('metadata region and every item', () => {
    const m = {
      fileParameters: { blockSize: 32 * MiB, leaveBlocksAllocated: false, hasParent: true },
      virtualDiskSize: 127 * 1024 * MiB,
      virtualDiskId: g(4),
      logicalSectorSize: 4096,
      physicalSectorSize: 4096,
      parentLocator: {
        locatorType: format.GUIDS.vhdxParentLocatorType,
        entries: { parent_linkage: `{${g(5)}}`, relative_path: '..\\base.vhdx', absolute_win32_path: 'C:\\vm\\base.vhdx' },
      },
    };
    const bytes = format.serializeMetadataRegion(m);
    const parsed = parseMetadataItems(bytes);
    expect(parsed).toEqual(m);
    expect(Buffer.compare(format.serializeMetadataRegion(parsed), bytes)).toBe(0);
  });

  it('BAT entries, including offsets above 4 GiB', () => {
    const bat = new Uint8Array(64);
    const e = { state: 6, offsetMiB: 5 * 1024 * 1024 + 77 };
    format.writeBatEntry(bat, 3, e);
    expect(format.readBatEntry(bat, 3)).toEqual(e);
    expect(format.batIndexOfBlock(2048, 2048)).toBe(2049);
    expect(format.blockOfBatIndex(2048, 2048)).toBe(-1);
    expect(format.blockOfBatIndex(2049, 2048)).toBe(2048);
    expect(format.batEntryCount(4096, 2048, false)).toBe(4097);
    expect(format.batEntryCount(4096, 2048, true)).toBe(4098);
    expect(format.chunkRatio(512, 32 * MiB)).toBe(128);
    expect(format.chunkRatio(4096, MiB)).toBe(32768);
  });

  it('log entry: header, data and zero descriptors, data sectors', () => {
    const data = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    const spec = {
      sequenceNumber: 0x100000002n,
      tail: 4096,
      logGuid: g(6),
      flushedFileOffset: 8 * MiB,
      lastFileOffset: 9 * MiB,
      writes: [
        { fileOffset: 2 * MiB, data },
        { fileOffset: 4 * MiB, zeroLength: 8192 },
      ],
    };
    const entry = format.buildLogEntry(spec);
    expect(entry.length).toBe(2 * 4096);
    const h = format.parseLogEntryHeader(entry, MiB);
    expect(h).toMatchObject({ entryLength: 8192, tail: 4096, sequenceNumber: spec.sequenceNumber, descriptorCount: 2, logGuid: g(6) });
    expect(h.checksum).toBe(format.logEntryChecksum(entry));
    const d0 = format.parseDescriptor(entry, 64)!;
    const d1 = format.parseDescriptor(entry, 96)!;
    expect(d0).toMatchObject({ kind: 'data', fileOffset: 2 * MiB, sequenceNumber: spec.sequenceNumber });
    expect(d1).toMatchObject({ kind: 'zero', fileOffset: 4 * MiB, length: 8192 });
    const again = new Uint8Array(entry.length);
    format.writeLogEntryHeader(again, h);
    format.writeDescriptor(again, 64, d0);
    format.writeDescriptor(again, 96, d1);
    format.writeDataSector(again, 4096, data, spec.sequenceNumber);
    expect(Buffer.compare(again, entry)).toBe(0);
  });
});

describe('invalid structures', () => {
  it('names the structure, field and offset', () => {
    const h = format.serializeHeader({
      sequenceNumber: 1n,
      fileWriteGuid: g(1),
      dataWriteGuid: g(2),
      logGuid: format.NIL_GUID,
      logVersion: 0,
      version: 1,
      logLength: MiB,
      logOffset: MiB,
    });
    h[100] = 1;
    const e = errorOf(() => format.parseHeader(h, 65536, 'header 1'));
    expect(e.code).toBe('BAD_CHECKSUM');
    expect(e.reason).toBe('header-checksum');
    expect(e.structure).toBe('header 1');
    expect(e.field).toBe('checksum');
    expect(e.offset).toBe(65540);
    expect(e.message).toContain('header 1 checksum at offset 65540');
  });

  it('rejects bad header fields after a good checksum', () => {
    const base = {
      sequenceNumber: 1n,
      fileWriteGuid: g(1),
      dataWriteGuid: g(2),
      logGuid: format.NIL_GUID,
      logVersion: 0,
      version: 1,
      logLength: MiB,
      logOffset: MiB,
    };
    const parsed = (h: Partial<typeof base>) => errorOf(() => format.parseHeader(format.serializeHeader({ ...base, ...h }), 0));
    expect(parsed({ version: 2 })).toMatchObject({ code: 'UNSUPPORTED', reason: 'header-version' });
    expect(parsed({ logLength: 4096 })).toMatchObject({ code: 'CORRUPT', reason: 'header-log-length' });
    expect(parsed({ logOffset: 0 })).toMatchObject({ code: 'CORRUPT', reason: 'header-log-offset' });
    expect(errorOf(() => format.parseHeader(new Uint8Array(100), 0))).toMatchObject({ code: 'TRUNCATED', reason: 'structure-truncated' });
  });

  it('rejects a region table that names a known region twice', () => {
    const t = format.serializeRegionTable({
      entries: [
        { guid: format.GUIDS.batRegion, fileOffset: 3 * MiB, length: MiB, required: true },
        { guid: format.GUIDS.batRegion, fileOffset: 5 * MiB, length: MiB, required: true },
      ],
    });
    expect(errorOf(() => format.parseRegionTable(t, 0))).toMatchObject({ code: 'CORRUPT', reason: 'region-duplicate' });
  });

  it('rejects a parent locator whose entries point outside the item', () => {
    const item = new Uint8Array(32);
    new DataView(item.buffer).setUint16(18, 1, true);
    new DataView(item.buffer).setUint32(20, 1000, true);
    expect(errorOf(() => format.parseParentLocator(item, { offset: 0 }))).toMatchObject({ code: 'CORRUPT', reason: 'locator-malformed' });
  });
});
