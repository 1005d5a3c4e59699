// The 4 KiB header, stored twice (at 64 KiB and 128 KiB). The current one is
// the valid copy with the higher sequence number.
import { VhdxError, type VhdxErrorReason, type VhdxStructure } from '../errors.js';
import { KiB, MiB, dataView, isMultipleOf, readAscii, readU64, writeAscii, writeU64 } from './bytes.js';
import { checksumWithHole, storeChecksum } from './checksum.js';
import { readGuid, writeGuid } from './guid.js';

/** Bytes of one header; each copy sits at the start of its own 64 KiB slot (MS-VHDX 2.2.2). */
export const HEADER_SIZE = 4 * KiB;
/** File offsets of header 1 and header 2 (64 KiB, 128 KiB; MS-VHDX 2.2.2). */
export const HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
const SIGNATURE = 'head';

/**
 * One decoded header copy (MS-VHDX 2.2.2). Of the two copies the current one is
 * the only valid one, or the valid one with the higher `sequenceNumber`.
 */
export interface Header {
  /** Picks the current copy: of two valid ones, the higher wins. */
  sequenceNumber: bigint;
  /** Changed by a writer before its first change of any kind to the file. */
  fileWriteGuid: string;
  /** Changed before the first change to the disk's contents; a differencing child records its parent's. */
  dataWriteGuid: string;
  /** Non-nil when the log holds entries that must be replayed. */
  logGuid: string;
  /** Log format version; 0 is the only one defined. */
  logVersion: number;
  /** Header format version; 1 is the only one defined. */
  version: number;
  /** Bytes of the log: a positive multiple of 1 MiB. */
  logLength: number;
  /** File offset of the log in bytes: a multiple of 1 MiB, at least 1 MiB. */
  logOffset: number;
}

/** Which copy a header is, as errors name it. */
export type HeaderStructure = Extract<VhdxStructure, 'header 1' | 'header 2'>;

/**
 * Parses and validates a header. `structure` names the copy in errors; by
 * default it follows from `fileOffset` (header 2 at 128 KiB, else header 1).
 *
 * @throws VhdxError `TRUNCATED` (`structure-truncated`: fewer than 4 KiB); `CORRUPT` (`header-signature`,
 * `header-log-length`, `header-log-offset`); `BAD_CHECKSUM` (`header-checksum`); `UNSUPPORTED`
 * (`header-version`, `header-log-version`; `wasm-unavailable` when the WebAssembly kernels cannot be loaded).
 */
export function parseHeader(b: Uint8Array, fileOffset: number, structure: HeaderStructure = headerAt(fileOffset)): Header {
  const fail = (reason: VhdxErrorReason, message: string, field?: string, rel = 0) =>
    new VhdxError(reason, message, { structure, field, offset: fileOffset + rel });
  if (b.length < HEADER_SIZE) throw fail('structure-truncated', `need ${HEADER_SIZE} bytes, have ${b.length}`);
  const block = b.subarray(0, HEADER_SIZE);
  if (readAscii(block, 0, 4) !== SIGNATURE) throw fail('header-signature', 'signature is not "head"', 'signature');
  const dv = dataView(block);
  const stored = dv.getUint32(4, true);
  const actual = checksumWithHole(block, 4);
  if (stored !== actual) {
    throw fail('header-checksum', `stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}`, 'checksum', 4);
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
  if (h.version !== 1) throw fail('header-version', `version ${h.version}, expected 1`, 'version', 66);
  if (h.logVersion !== 0) throw fail('header-log-version', `log version ${h.logVersion}, expected 0`, 'log_version', 64);
  if (h.logLength === 0 || !isMultipleOf(h.logLength, MiB)) {
    throw fail('header-log-length', `log length ${h.logLength} is not a positive multiple of 1 MiB`, 'log_length', 68);
  }
  if (h.logOffset < MiB || !isMultipleOf(h.logOffset, MiB)) {
    throw fail('header-log-offset', `log offset ${h.logOffset} is not a multiple of 1 MiB at or past 1 MiB`, 'log_offset', 72);
  }
  return h;
}

function headerAt(fileOffset: number): HeaderStructure {
  return fileOffset === HEADER_OFFSETS[1] ? 'header 2' : 'header 1';
}

/**
 * The 4 KiB image of a header, checksummed. Fields are written as given, not validated.
 * @throws VhdxError `INVALID_ARGUMENT` (`value-unencodable`) for a GUID not in canonical form;
 * `UNSUPPORTED` (`wasm-unavailable`) when the WebAssembly kernels cannot be loaded.
 */
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
