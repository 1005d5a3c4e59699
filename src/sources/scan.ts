// Which blocks of a raw disk hold data. A dynamic VHDX written to a plain
// stream needs this before the first byte (the BAT precedes the payload), so
// it comes from a pre-scan of a re-readable source.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { openSource } from './index.js';
import type { ReadableFile, SourceInput } from './types.js';
import { isAllZero } from '../wasm/kernels.js';
import { ready } from '../wasm/instance.js';
import { defaultBlockSize } from '../layout/options.js';

/** Per-block allocation of a raw disk. */
export interface AllocationMap {
  /** Size of the raw disk in bytes. */
  virtualSize: number;
  /** The block size the map was made for; must match the encoder's. */
  blockSize: number;
  /** 1 where the block holds at least one non-zero byte, 0 where it is all zero. */
  present: Uint8Array;
}

/** Options of `scanAllocation`. */
export interface ScanOptions {
  /** Block size to scan with (default: the encoder's default for the size). */
  blockSize?: number;
  /** Bytes per read (default 4 MiB, capped at the block size). */
  readSize?: number;
  /**
   * Only blocks [first, end) are read (default: all); the others are left 0 in the map. Scans of
   * disjoint ranges (in other workers, by ranged reads) give one disk's map when their `present`
   * arrays are OR-ed together.
   */
  blocks?: { first: number; end: number };
}

/**
 * Scans a re-readable raw disk (bytes, Blob/File, Node path or FileHandle,
 * URL, or `{ size, read }`) for all-zero blocks. Stops reading a block at its
 * first non-zero byte, so data-heavy disks scan at memory speed.
 * @throws VhdxError `source-truncated` when the source yields fewer bytes than its size, and whatever opening or reading it throws.
 */
export async function scanAllocation(input: SourceInput, options: ScanOptions = {}): Promise<AllocationMap> {
  return scanSource(await openSource(input), options);
}

/** {@link scanAllocation} over a source you opened; closes it when done. */
export async function scanSource(source: ReadableFile, options: ScanOptions = {}): Promise<AllocationMap> {
  try {
    await ready();
    const virtualSize = source.size;
    const blockSize = options.blockSize ?? defaultBlockSize(virtualSize);
    const readSize = Math.min(blockSize, options.readSize ?? 4 * MiB);
    const blocks = Math.ceil(virtualSize / blockSize);
    const present = new Uint8Array(blocks);
    const first = Math.max(0, options.blocks?.first ?? 0);
    const last = Math.min(blocks, options.blocks?.end ?? blocks);
    const buffer = source.readInto ? new Uint8Array(readSize) : undefined;
    for (let b = first; b < last; b++) {
      const start = b * blockSize;
      const end = Math.min(virtualSize, start + blockSize);
      // a file that knows its holes is read only where it holds data
      const holes = source.holes;
      for (let at = holes ? holes.nextData(start) : start; at < end; ) {
        const len = Math.min(readSize, end - at, holes ? holes.nextHole(at) - at : Infinity);
        let piece: Uint8Array;
        if (buffer && source.readInto) {
          const view = buffer.subarray(0, len);
          const n = await source.readInto(view, at);
          if (n !== len) throw endedEarly(at + n);
          piece = view;
        } else {
          piece = await source.read(at, len);
          if (piece.length !== len) throw endedEarly(at + piece.length);
        }
        if (!isAllZero(piece)) {
          present[b] = 1;
          break;
        }
        at += len;
        if (holes) at = holes.nextData(at);
      }
    }
    return { virtualSize, blockSize, present };
  } finally {
    await source.close?.();
  }
}

function endedEarly(at: number): VhdxError {
  return new VhdxError('source-truncated', `source ended at ${at} while scanning`, { structure: 'source', offset: at });
}
