// The 4 KiB header, stored twice (at 64 KiB and 128 KiB). The current one is
// the valid copy with the higher sequence number.
import { VhdxError } from '../errors.js';
import { KiB, MiB, dataView, isMultipleOf, readAscii, readU64, writeAscii, writeU64 } from './bytes.js';
import { checksumWithHole, storeChecksum } from './checksum.js';
import { readGuid, writeGuid } from './guid.js';

export const HEADER_SIZE = 4 * KiB;
export const HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
const SIGNATURE = 'head';

export interface Header {
  sequenceNumber: bigint;
  fileWriteGuid: string;
  dataWriteGuid: string;
  /** Non-nil when the log holds entries that must be replayed. */
  logGuid: string;
  logVersion: number;
  version: number;
  logLength: number;
  logOffset: number;
}

/**
 * Parses and validates a header. Throws VhdxError (NOT_VHDX for a missing
 * signature, BAD_CHECKSUM, CORRUPT or UNSUPPORTED for bad fields).
 */
export function parseHeader(b: Uint8Array, fileOffset: number, name = 'header'): Header {
  const where = (field?: string, rel = 0) => ({ structure: name, field, offset: fileOffset + rel });
  if (b.length < HEADER_SIZE) throw new VhdxError('TRUNCATED', `need ${HEADER_SIZE} bytes`, where());
  const block = b.subarray(0, HEADER_SIZE);
  if (readAscii(block, 0, 4) !== SIGNATURE) throw new VhdxError('CORRUPT', 'signature is not "head"', where('signature'));
  const dv = dataView(block);
  const stored = dv.getUint32(4, true);
  const actual = checksumWithHole(block, 4);
  if (stored !== actual) {
    throw new VhdxError('BAD_CHECKSUM', `stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}`, where('checksum', 4));
  }
  const h: Header = {
    sequenceNumber: dv.getBigUint64(8, true),
    fileWriteGuid: readGuid(block, 16),
    dataWriteGuid: readGuid(block, 32),
    logGuid: readGuid(block, 48),
    logVersion: dv.getUint16(64, true),
    version: dv.getUint16(66, true),
    logLength: dv.getUint32(68, true),
    logOffset: readU64(dv, 72),
  };
  if (h.version !== 1) throw new VhdxError('UNSUPPORTED', `version ${h.version}, expected 1`, where('version', 66));
  if (h.logVersion !== 0) throw new VhdxError('UNSUPPORTED', `log version ${h.logVersion}, expected 0`, where('log_version', 64));
  if (h.logLength === 0 || !isMultipleOf(h.logLength, MiB)) {
    throw new VhdxError('CORRUPT', `log length ${h.logLength} is not a positive multiple of 1 MiB`, where('log_length', 68));
  }
  if (h.logOffset < MiB || !isMultipleOf(h.logOffset, MiB)) {
    throw new VhdxError('CORRUPT', `log offset ${h.logOffset} is not a multiple of 1 MiB at or past 1 MiB`, where('log_offset', 72));
  }
  return h;
}

export function serializeHeader(h: Header): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE);
  const dv = dataView(b);
  writeAscii(b, 0, SIGNATURE);
  dv.setBigUint64(8, h.sequenceNumber, true);
  writeGuid(b, 16, h.fileWriteGuid);
  writeGuid(b, 32, h.dataWriteGuid);
  writeGuid(b, 48, h.logGuid);
  dv.setUint16(64, h.logVersion, true);
  dv.setUint16(66, h.version, true);
  dv.setUint32(68, h.logLength, true);
  writeU64(dv, 72, h.logOffset);
  storeChecksum(b, 4);
  return b;
}
