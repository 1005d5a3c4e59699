// Microsoft GUID byte order lives here and nowhere else: the first three
// fields are little-endian on disk, the last eight bytes are as written.
import { v4 as uuidv4 } from 'uuid';
import { VhdxError } from '../errors.js';

/** The all-zero GUID; as a header's `logGuid` it means the log holds nothing to replay (MS-VHDX 2.2.2). */
export const NIL_GUID = '00000000-0000-0000-0000-000000000000';

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function hexByte(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/**
 * Reads a 16-byte on-disk GUID as a lowercase canonical string. Every 16 bytes
 * form some GUID, so nothing is rejected; `b` must hold 16 bytes at `off`.
 */
export function readGuid(b: Uint8Array, off: number): string {
  const h = (i: number): string => hexByte(b[off + i]!);
  return (
    h(3) +
    h(2) +
    h(1) +
    h(0) +
    '-' +
    h(5) +
    h(4) +
    '-' +
    h(7) +
    h(6) +
    '-' +
    h(8) +
    h(9) +
    '-' +
    h(10) +
    h(11) +
    h(12) +
    h(13) +
    h(14) +
    h(15)
  );
}

/** True when `text` is a GUID in canonical 8-4-4-4-12 hex form (either case): the form {@link writeGuid} accepts. */
export function isGuid(text: string): boolean {
  return GUID_RE.test(text);
}

/**
 * Writes a canonical GUID string in on-disk order.
 * @throws VhdxError `INVALID_ARGUMENT` (`value-unencodable`) when `guid` is not in canonical form.
 */
export function writeGuid(b: Uint8Array, off: number, guid: string): void {
  if (!isGuid(guid)) throw new VhdxError('value-unencodable', `not a GUID: ${guid}`);
  const hexDigits = guid.replace(/-/g, '');
  const raw = new Array<number>(16);
  for (let i = 0; i < 16; i++) raw[i] = parseInt(hexDigits.slice(2 * i, 2 * i + 2), 16);
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  for (let i = 0; i < 16; i++) b[off + i] = raw[order[i]!]!;
}

/** A new random (version 4) GUID in lowercase canonical form, e.g. for a new file's write GUIDs and Virtual Disk Id. */
export function randomGuid(): string {
  return uuidv4();
}

/** True for {@link NIL_GUID}; `guid` in canonical form. */
export function isNilGuid(guid: string): boolean {
  return guid === NIL_GUID;
}

/** True when two canonical GUID strings name the same GUID: {@link readGuid} gives lowercase, callers may pass uppercase. */
export function sameGuid(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * GUIDs the format defines, in lowercase canonical form: regions (MS-VHDX 2.2.3.2),
 * metadata items and the VHDX locator type (MS-VHDX 2.6.2).
 */
export const GUIDS = {
  batRegion: '2dc27766-f623-4200-9d64-115e9bfd4a08',
  metadataRegion: '8b7ca206-4790-4b9a-b8fe-575f050f886e',
  fileParameters: 'caa16737-fa36-4d43-b3b6-33f0aa44e76b',
  virtualDiskSize: '2fa54224-cd1b-4876-b211-5dbed83bf4b8',
  virtualDiskId: 'beca12ab-b2e6-4523-93ef-c309e000c746',
  logicalSectorSize: '8141bf1d-a96f-4709-ba47-f233a8faab5f',
  physicalSectorSize: 'cda348c7-445d-4471-9cc9-e9885251c556',
  parentLocator: 'a8d35f2d-b30b-454d-abf7-d3d84834ab0c',
  vhdxParentLocatorType: 'b04aefb7-d19e-4a81-b789-25b8e9445913',
} as const;
