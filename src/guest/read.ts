// Reads through the caller's function, checked: every range inside the disk
// (or inside a region), every answer as long as asked. A failing read is the
// only thing that becomes a VhdxError; a range a damaged structure points at
// outside its region becomes a refusal.
import { VhdxError, asVhdxError } from '../errors.js';
import type { GuestRefusal, PartitionTable } from './types.js';

/** Thrown inside the readers and caught where a region's verdict is made. */
export class Refusal extends Error {
  constructor(
    readonly reason: GuestRefusal,
    message: string,
    /** For a refused partition table: which kind it was. */
    readonly table?: PartitionTable,
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

/** Reads `length` bytes of the disk at `offset` (fewer only past its end). */
export type ReadFunction = (offset: number, length: number) => Promise<Uint8Array>;

/** Reads `length` bytes at disk offset `offset`, which the caller has checked lie inside the disk. */
export async function readDisk(read: ReadFunction, offset: number, length: number): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await read(offset, length);
  } catch (err) {
    throw asVhdxError(err, 'read-failed', `reading ${length} bytes of the disk at ${offset} failed`);
  }
  if (!(bytes instanceof Uint8Array) || bytes.length < length) {
    const got = bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes;
    throw new VhdxError('read-failed', `reading ${length} bytes of the disk at ${offset} returned ${got}`, { offset });
  }
  return bytes.length === length ? bytes : bytes.subarray(0, length);
}

/** A stretch of the disk read by offsets relative to its start, refusing anything outside it. */
export class RegionReader {
  constructor(
    private readonly read: ReadFunction,
    /** Disk offset of the region. */
    readonly base: number,
    /** Length of the region in bytes. */
    readonly length: number,
  ) {}

  /** True when [offset, offset + length) lies inside the region. */
  holds(offset: number, length: number): boolean {
    return Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= this.length;
  }

  /** Bytes at region offset `offset`; a refusal (`outside-region`) when they lie outside the region. */
  async at(offset: number, length: number, what: string): Promise<Uint8Array> {
    if (!this.holds(offset, length)) {
      throw new Refusal('outside-region', `${what} (${length} bytes at ${offset}) lies outside the ${this.length}-byte region`);
    }
    return readDisk(this.read, this.base + offset, length);
  }
}
