// The file identifier: the first 64 KiB, "vhdxfile" then an optional
// UTF-16LE creator string of up to 512 bytes.
import { VhdxError } from '../errors.js';
import { KiB, readAscii, readUtf16, writeAscii, writeUtf16 } from './bytes.js';

/** Bytes the file identifier takes at the start of every VHDX file (64 KiB, MS-VHDX 2.2.1). */
export const FILE_IDENTIFIER_SIZE = 64 * KiB;
/** The 8 ASCII bytes at offset 0 that mark a VHDX file (MS-VHDX 2.2.1). */
export const FILE_SIGNATURE = 'vhdxfile';
const CREATOR_OFFSET = 8;
const CREATOR_BYTES = 512;

/** The decoded file identifier (MS-VHDX 2.2.1). */
export interface FileIdentifier {
  /** Who wrote the file: free text, at most 256 UTF-16 code units on disk (255 when written here, to keep a NUL). */
  creator: string;
}

/** True when `b` starts with the "vhdxfile" signature (MS-VHDX 2.2.1): a cheap probe before parsing anything. */
export function hasVhdxSignature(b: Uint8Array): boolean {
  return b.length >= 8 && readAscii(b, 0, 8) === FILE_SIGNATURE;
}

/**
 * Parses the file identifier at the start of `b`.
 * @throws VhdxError `TRUNCATED` (`structure-truncated`: fewer than 520 bytes), `NOT_VHDX` (`not-vhdx`: no "vhdxfile" signature).
 */
export function parseFileIdentifier(b: Uint8Array): FileIdentifier {
  if (b.length < CREATOR_OFFSET + CREATOR_BYTES) {
    throw new VhdxError('structure-truncated', `need ${CREATOR_OFFSET + CREATOR_BYTES} bytes, have ${b.length}`, {
      structure: 'file identifier',
      offset: 0,
    });
  }
  if (!hasVhdxSignature(b)) {
    throw new VhdxError('not-vhdx', 'no "vhdxfile" signature', { structure: 'file identifier', offset: 0 });
  }
  return { creator: readUtf16(b, CREATOR_OFFSET, CREATOR_BYTES) };
}

/**
 * The 64 KiB image of a file identifier.
 * @throws VhdxError `INVALID_ARGUMENT` (`value-unencodable`) for a creator longer than 255 UTF-16 code units.
 */
export function serializeFileIdentifier(id: FileIdentifier): Uint8Array {
  if (id.creator.length > CREATOR_BYTES / 2 - 1) {
    throw new VhdxError('value-unencodable', `creator is longer than ${CREATOR_BYTES / 2 - 1} characters`, {
      structure: 'file identifier',
      field: 'creator',
    });
  }
  const b = new Uint8Array(FILE_IDENTIFIER_SIZE);
  writeAscii(b, 0, FILE_SIGNATURE);
  writeUtf16(b, CREATOR_OFFSET, id.creator);
  return b;
}
