// The log (metadata journal): entry headers, data and zero descriptors, and
// data sectors, plus a builder that writes whole, checksummed entries.
import { VhdxError } from '../errors.js';
import { KiB, dataView, readAscii, readU64, writeAscii, writeU64 } from './bytes.js';
import { checksumWithHole, storeChecksum } from './checksum.js';
import { readGuid, writeGuid } from './guid.js';

/** The log's unit in bytes: entries, descriptor sectors and data sectors are 4 KiB (MS-VHDX 2.3). */
export const LOG_SECTOR = 4 * KiB;
/** Bytes of the fixed part of a log entry, before its descriptors (MS-VHDX 2.3.1.1). */
export const LOG_ENTRY_HEADER_SIZE = 64;
/** Bytes of a data or zero descriptor (MS-VHDX 2.3.1). */
export const DESCRIPTOR_SIZE = 32;
const ENTRY_SIGNATURE = 'loge';

/** The fixed part of a log entry (MS-VHDX 2.3.1.1). */
export interface LogEntryHeader {
  /** CRC-32C of the whole entry with this field read as zero. */
  checksum: number;
  /** Bytes of the whole entry: a multiple of 4 KiB. */
  entryLength: number;
  /** Byte offset within the log of the first entry of this entry's sequence. */
  tail: number;
  /** Non-zero; entries of one sequence have consecutive numbers. */
  sequenceNumber: bigint;
  /** Data and zero descriptors that follow this header. */
  descriptorCount: number;
  /** Equals the current header's `logGuid` for an entry to replay; other entries are leftovers of an earlier log. */
  logGuid: string;
  /** File size in bytes that was stable when the entry was written; a shorter file has lost data. */
  flushedFileOffset: number;
  /** File size in bytes the file has at least once the entry is replayed. */
  lastFileOffset: number;
}

/**
 * A decoded log descriptor (MS-VHDX 2.3.1). A data descriptor keeps the first 8 (`leading`) and last 4
 * (`trailing`) bytes of its 4 KiB target sector, whose middle is in a data sector; a zero descriptor
 * zeroes `length` bytes (a multiple of 4 KiB). `fileOffset` is where either applies, in bytes.
 */
export type LogDescriptor =
  | { kind: 'data'; fileOffset: number; sequenceNumber: bigint; leading: Uint8Array; trailing: Uint8Array }
  | { kind: 'zero'; fileOffset: number; sequenceNumber: bigint; length: number };

/** Sectors taken by the header and `count` descriptors (126 in the first, 128 after). */
export function descriptorSectors(count: number): number {
  return Math.ceil((count + 2) / 128);
}

/** True when `b` starts with the "loge" signature of a log entry (MS-VHDX 2.3.1.1): a cheap probe while scanning. */
export function hasLogEntrySignature(b: Uint8Array): boolean {
  return b.length >= 4 && readAscii(b, 0, 4) === ENTRY_SIGNATURE;
}

/**
 * Parses the fixed 64-byte part of an entry; checks only the signature.
 * @throws VhdxError `TRUNCATED` (`structure-truncated`: fewer than 64 bytes), `CORRUPT` (`log-entry-signature`).
 */
export function parseLogEntryHeader(b: Uint8Array, fileOffset: number): LogEntryHeader {
  if (b.length < LOG_ENTRY_HEADER_SIZE) {
    throw new VhdxError('structure-truncated', 'log entry header cut short', { structure: 'log entry', offset: fileOffset });
  }
  if (!hasLogEntrySignature(b)) {
    const where = { structure: 'log entry', field: 'signature', offset: fileOffset } as const;
    throw new VhdxError('log-entry-signature', 'signature is not "loge"', where);
  }
  const dv = dataView(b);
  return {
    checksum: dv.getUint32(4, true),
    entryLength: dv.getUint32(8, true),
    tail: dv.getUint32(12, true),
    sequenceNumber: dv.getBigUint64(16, true),
    descriptorCount: dv.getUint32(24, true),
    logGuid: readGuid(b, 32),
    flushedFileOffset: readU64(dv, 48),
    lastFileOffset: readU64(dv, 56),
  };
}

/**
 * Writes the fixed 64-byte part of an entry (checksum as given).
 * @throws VhdxError `INVALID_ARGUMENT` (`value-unencodable`) for a log GUID not in canonical form.
 */
export function writeLogEntryHeader(b: Uint8Array, h: LogEntryHeader): void {
  const dv = dataView(b);
  writeAscii(b, 0, ENTRY_SIGNATURE);
  dv.setUint32(4, h.checksum, true);
  dv.setUint32(8, h.entryLength, true);
  dv.setUint32(12, h.tail, true);
  dv.setBigUint64(16, h.sequenceNumber, true);
  dv.setUint32(24, h.descriptorCount, true);
  dv.setUint32(28, 0, true);
  writeGuid(b, 32, h.logGuid);
  writeU64(dv, 48, h.flushedFileOffset);
  writeU64(dv, 56, h.lastFileOffset);
}

/**
 * CRC-32C of a whole entry with its checksum field read as zero.
 * @throws VhdxError `UNSUPPORTED` (`wasm-unavailable`) when the WebAssembly kernels cannot be loaded.
 */
export function logEntryChecksum(entry: Uint8Array): number {
  return checksumWithHole(entry, 4);
}

/** Parses the descriptor at `off`; undefined (never an error) for a signature that is neither "desc" nor "zero". */
export function parseDescriptor(b: Uint8Array, off: number): LogDescriptor | undefined {
  const sig = readAscii(b, off, 4);
  const dv = dataView(b);
  const fileOffset = readU64(dv, off + 16);
  const sequenceNumber = dv.getBigUint64(off + 24, true);
  if (sig === 'desc') {
    return { kind: 'data', fileOffset, sequenceNumber, trailing: b.slice(off + 4, off + 8), leading: b.slice(off + 8, off + 16) };
  }
  if (sig === 'zero') return { kind: 'zero', fileOffset, sequenceNumber, length: readU64(dv, off + 8) };
  return undefined;
}

/** Writes descriptor `d` at `off`; a data descriptor's data sector is written apart, by {@link writeDataSector}. */
export function writeDescriptor(b: Uint8Array, off: number, d: LogDescriptor): void {
  const dv = dataView(b);
  if (d.kind === 'data') {
    writeAscii(b, off, 'desc');
    b.set(d.trailing.subarray(0, 4), off + 4);
    b.set(d.leading.subarray(0, 8), off + 8);
  } else {
    writeAscii(b, off, 'zero');
    writeU64(dv, off + 8, d.length);
  }
  writeU64(dv, off + 16, d.fileOffset);
  dv.setBigUint64(off + 24, d.sequenceNumber, true);
}

/** Writes the data sector that carries bytes 8..4091 of `target`, between the high and low halves of `sequenceNumber` (MS-VHDX 2.3.1). */
export function writeDataSector(b: Uint8Array, off: number, target: Uint8Array, sequenceNumber: bigint): void {
  const dv = dataView(b);
  writeAscii(b, off, 'data');
  dv.setUint32(off + 4, Number(sequenceNumber >> 32n), true);
  b.set(target.subarray(8, 4092), off + 8);
  dv.setUint32(off + 4092, Number(sequenceNumber & 0xffffffffn), true);
}

/** One change a log entry records. */
export type LogWrite =
  | { fileOffset: number; data: Uint8Array } // exactly 4 KiB
  | { fileOffset: number; zeroLength: number };

/** What {@link buildLogEntry} writes: one entry's header fields and its changes. */
export interface LogEntrySpec {
  /** Sequence number of the entry, repeated in each descriptor and data sector. */
  sequenceNumber: bigint;
  /** Byte offset within the log of the first entry of the sequence this one belongs to. */
  tail: number;
  /** The `logGuid` of the header that will point at this log. */
  logGuid: string;
  /** File size in bytes already stable on disk when the entry is written. */
  flushedFileOffset: number;
  /** File size in bytes the file has at least once the entry is replayed. */
  lastFileOffset: number;
  /** The changes in order; each data write takes one data sector. */
  writes: LogWrite[];
}

/**
 * Builds a complete, checksummed log entry.
 * @throws VhdxError `INVALID_ARGUMENT` (`value-unencodable`) for a data write that is not exactly 4 KiB or a GUID
 * not in canonical form; `UNSUPPORTED` (`wasm-unavailable`) when the WebAssembly kernels cannot be loaded.
 */
export function buildLogEntry(spec: LogEntrySpec): Uint8Array {
  const dataWrites = spec.writes.filter((w): w is { fileOffset: number; data: Uint8Array } => 'data' in w);
  const descSectors = descriptorSectors(spec.writes.length);
  const entryLength = (descSectors + dataWrites.length) * LOG_SECTOR;
  const b = new Uint8Array(entryLength);
  writeLogEntryHeader(b, {
    checksum: 0,
    entryLength,
    tail: spec.tail,
    sequenceNumber: spec.sequenceNumber,
    descriptorCount: spec.writes.length,
    logGuid: spec.logGuid,
    flushedFileOffset: spec.flushedFileOffset,
    lastFileOffset: spec.lastFileOffset,
  });
  let dataIndex = 0;
  spec.writes.forEach((w, i) => {
    const off = LOG_ENTRY_HEADER_SIZE + i * DESCRIPTOR_SIZE;
    if ('data' in w) {
      if (w.data.length !== LOG_SECTOR) {
        throw new VhdxError('value-unencodable', `a log data write is exactly 4 KiB, not ${w.data.length} bytes`, {
          structure: 'log entry',
          field: `descriptor ${i}`,
        });
      }
      writeDescriptor(b, off, {
        kind: 'data',
        fileOffset: w.fileOffset,
        sequenceNumber: spec.sequenceNumber,
        leading: w.data.subarray(0, 8),
        trailing: w.data.subarray(4092, 4096),
      });
      writeDataSector(b, (descSectors + dataIndex++) * LOG_SECTOR, w.data, spec.sequenceNumber);
    } else {
      writeDescriptor(b, off, { kind: 'zero', fileOffset: w.fileOffset, sequenceNumber: spec.sequenceNumber, length: w.zeroLength });
    }
  });
  storeChecksum(b, 4);
  return b;
}
