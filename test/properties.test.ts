// Property tests for the codec: parse(serialize(x)) == x, and parsers given
// arbitrary bytes throw nothing but VhdxError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VhdxError, openVhdx } from '../src/index.js';
import * as format from '../src/format/index.js';
import { reassembleLogEntry } from '../src/wasm/kernels.js';
import { parseMetadataItems } from './helpers/metadata.js';

const MiB = 1024 * 1024;
const guid = fc.uuid().map((u) => u.toLowerCase());

function onlyVhdxErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof VhdxError)) throw err;
  }
}

describe('round trips', () => {
  it('header', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        guid,
        guid,
        guid,
        fc.integer({ min: 1, max: 4095 }),
        fc.integer({ min: 1, max: 2 ** 30 }),
        (seq, a, b, c, logMiB, offMiB) => {
          const h = {
            sequenceNumber: seq,
            fileWriteGuid: a,
            dataWriteGuid: b,
            logGuid: c,
            logVersion: 0,
            version: 1,
            logLength: logMiB * MiB,
            logOffset: offMiB * MiB,
          };
          expect(format.parseHeader(format.serializeHeader(h), 0)).toEqual(h);
        },
      ),
    );
  });

  it('region table', () => {
    const entry = fc.record({
      guid,
      fileOffset: fc.integer({ min: 1, max: 2 ** 32 }).map((m) => m * MiB),
      length: fc.integer({ min: 1, max: 4095 }).map((m) => m * MiB),
      required: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.guid, maxLength: 40 }), (entries) => {
        const bytes = format.serializeRegionTable({ entries });
        expect(format.parseRegionTable(bytes, 0).entries).toEqual(entries);
        expect(Buffer.compare(format.serializeRegionTable(format.parseRegionTable(bytes, 0)), bytes)).toBe(0);
      }),
    );
  });

  it('metadata region and items', () => {
    const locator = fc.dictionary(
      fc.constantFrom('parent_linkage', 'parent_linkage2', 'relative_path', 'volume_path', 'absolute_win32_path'),
      fc.string({ minLength: 1, maxLength: 60 }).filter((v) => !v.includes('\u0000')),
    );
    fc.assert(
      fc.property(
        fc.record({
          fileParameters: fc.record({
            blockSize: fc.integer({ min: 20, max: 28 }).map((k) => 2 ** k),
            leaveBlocksAllocated: fc.boolean(),
            hasParent: fc.boolean(),
          }),
          virtualDiskSize: fc.integer({ min: 1, max: 2 ** 34 }).map((s) => s * 4096),
          virtualDiskId: guid,
          logicalSectorSize: fc.constantFrom(512, 4096),
          physicalSectorSize: fc.constantFrom(512, 4096),
        }),
        fc.option(locator, { nil: undefined }),
        (m, entries) => {
          const meta =
            entries && Object.keys(entries).length
              ? { ...m, parentLocator: { locatorType: format.GUIDS.vhdxParentLocatorType, entries } }
              : m;
          const bytes = format.serializeMetadataRegion(meta);
          const back = parseMetadataItems(bytes);
          expect(back).toEqual(meta);
          expect(Buffer.compare(format.serializeMetadataRegion(back), bytes)).toBe(0);
        },
      ),
    );
  });

  it('BAT entry', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 1, 2, 3, 6, 7), fc.integer({ min: 0, max: 2 ** 44 - 1 }), (state, offsetMiB) => {
        const bat = new Uint8Array(16);
        format.writeBatEntry(bat, 1, { state, offsetMiB });
        expect(format.readBatEntry(bat, 1)).toEqual({ state, offsetMiB });
      }),
    );
  });

  it('log entry: what goes in comes out of reassembly', () => {
    const write = fc.oneof(
      fc.record({
        fileOffset: fc.integer({ min: 256, max: 2 ** 20 }).map((s) => s * 4096),
        data: fc.uint8Array({ minLength: 4096, maxLength: 4096 }),
      }),
      fc.record({
        fileOffset: fc.integer({ min: 256, max: 2 ** 20 }).map((s) => s * 4096),
        zeroLength: fc.integer({ min: 1, max: 2 ** 20 }).map((s) => s * 4096),
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), fc.array(write, { maxLength: 140 }), guid, (seq, writes, logGuid) => {
        const entry = format.buildLogEntry({ sequenceNumber: seq, tail: 0, logGuid, flushedFileOffset: MiB, lastFileOffset: MiB, writes });
        const h = format.parseLogEntryHeader(entry, 0);
        expect(h.checksum).toBe(format.logEntryChecksum(entry));
        const data = writes.filter((w): w is { fileOffset: number; data: Uint8Array<ArrayBuffer> } => 'data' in w);
        const got = reassembleLogEntry(
          entry,
          writes.length,
          format.descriptorSectors(writes.length) * 4096,
          Number(seq & 0xffffffffn),
          Number(seq >> 32n),
          data.length,
        );
        expect(got.ok).toBe(true);
        if (got.ok) {
          data.forEach((w, i) => {
            expect(Buffer.compare(got.sectors.subarray(i * 4096, (i + 1) * 4096), w.data)).toBe(0);
          });
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('parsers given arbitrary bytes', () => {
  it('throw only VhdxError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70000, size: 'max' }), fc.nat(), (bytes, n) => {
        const where = { structure: 'x', offset: 0 };
        onlyVhdxErrors(() => format.parseFileIdentifier(bytes));
        onlyVhdxErrors(() => format.parseHeader(bytes, n));
        onlyVhdxErrors(() => format.parseRegionTable(bytes, n));
        onlyVhdxErrors(() => format.parseMetadataTable(bytes, n, MiB));
        onlyVhdxErrors(() => format.parseFileParameters(bytes, where));
        onlyVhdxErrors(() => format.parseVirtualDiskSize(bytes, where));
        onlyVhdxErrors(() => format.parseSectorSize(bytes, where));
        onlyVhdxErrors(() => format.parseVirtualDiskId(bytes, where));
        onlyVhdxErrors(() => format.parseParentLocator(bytes, where));
        onlyVhdxErrors(() => format.parseLogEntryHeader(bytes, n));
      }),
      { numRuns: 300 },
    );
  });

  it('openVhdx rejects only with VhdxError, even with valid signatures in front', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 400_000, size: 'max' }), fc.boolean(), async (bytes, signed) => {
        if (signed && bytes.length >= 8) bytes.set(new TextEncoder().encode('vhdxfile'));
        try {
          await openVhdx(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(VhdxError);
        }
      }),
      { numRuns: 60 },
    );
  });
});
