// The state a replayed log leaves the file in, kept in memory, and the one
// place where it is applied to file bytes: every reader of a dirty image
// (random access and streaming alike) goes through these functions.
import { LOG_SECTOR } from '../format/log.js';
import type { ByteReader } from './reader.js';

/** What the log's active sequence changes in the file. */
export interface LogOverlay {
  /** Zeroed byte intervals [start, end), sorted and disjoint. */
  zeros: { start: number; end: number }[];
  /** Rebuilt 4 KiB sectors by file offset (applied after the zeros). */
  sectors: Map<number, Uint8Array>;
  /** Their offsets, ascending, for range lookups. */
  sectorOffsets: number[];
  /** The file reads as at least this long (zeros past the real end). */
  lastFileOffset: number;
  /** The file must be at least this long, or data was lost. */
  flushedFileOffset: number;
  entriesReplayed: number;
  sectorsReplayed: number;
}

export function emptyOverlay(): LogOverlay {
  return {
    zeros: [],
    sectors: new Map(),
    sectorOffsets: [],
    lastFileOffset: 0,
    flushedFileOffset: 0,
    entriesReplayed: 0,
    sectorsReplayed: 0,
  };
}

function lowerBound(xs: number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True when the overlay changes any byte of [offset, offset + length). */
function touches(o: LogOverlay, offset: number, length: number): boolean {
  const end = offset + length;
  for (const z of o.zeros) if (z.start < end && z.end > offset) return true;
  const i = lowerBound(o.sectorOffsets, offset - LOG_SECTOR + 1);
  return i < o.sectorOffsets.length && o.sectorOffsets[i]! < end;
}

/** Applies the overlay to `bytes` (file bytes at `offset`) in place. */
function applyInPlace(o: LogOverlay, offset: number, bytes: Uint8Array): void {
  const end = offset + bytes.length;
  for (const z of o.zeros) {
    if (z.start < end && z.end > offset) bytes.fill(0, Math.max(0, z.start - offset), Math.min(bytes.length, z.end - offset));
  }
  for (let i = lowerBound(o.sectorOffsets, offset - LOG_SECTOR + 1); i < o.sectorOffsets.length; i++) {
    const s = o.sectorOffsets[i]!;
    if (s >= end) break;
    const sector = o.sectors.get(s)!;
    const from = Math.max(offset, s);
    const to = Math.min(end, s + LOG_SECTOR);
    bytes.set(sector.subarray(from - s, to - s), from - offset);
  }
}

/**
 * File bytes at `offset` as the log leaves them: `bytes` itself when the log
 * does not touch them, otherwise a patched copy (the caller's bytes are never
 * changed, so a stream's chunks stay the producer's).
 */
export function patchedBytes(o: LogOverlay | undefined, offset: number, bytes: Uint8Array): Uint8Array {
  if (!o || !touches(o, offset, bytes.length)) return bytes;
  const copy = bytes.slice();
  applyInPlace(o, offset, copy);
  return copy;
}

/**
 * A reader that sees the file as the log leaves it (the reader itself when
 * there is no log to apply). Reads into a caller's buffer patch it in place.
 */
export function overlayReader(r: ByteReader, o: LogOverlay | undefined): ByteReader {
  if (!o) return r;
  const size = r.size === undefined ? undefined : Math.max(r.size, o.lastFileOffset);
  // the real file ends at r.size; up to lastFileOffset it reads as zeros
  const realLength = (offset: number, length: number) => (r.size === undefined ? length : Math.max(0, Math.min(length, r.size - offset)));
  const wanted = (offset: number, length: number, got: number) => (size === undefined ? got : Math.min(length, size - offset));
  return {
    size,
    async read(offset, length) {
      const real = realLength(offset, length);
      const base = real > 0 ? await r.read(offset, real) : new Uint8Array(0);
      const want = wanted(offset, length, base.length);
      if (base.length >= want) return patchedBytes(o, offset, base);
      const out = new Uint8Array(want);
      out.set(base);
      applyInPlace(o, offset, out);
      return out;
    },
    async readInto(target, offset) {
      const real = realLength(offset, target.length);
      let got = 0;
      if (real > 0) {
        const view = target.subarray(0, real);
        if (r.readInto) got = await r.readInto(view, offset);
        else {
          const b = await r.read(offset, real);
          view.set(b.subarray(0, real));
          got = Math.min(b.length, real);
        }
      }
      const want = wanted(offset, target.length, got);
      if (got < want) target.fill(0, got, want);
      const n = Math.max(got, want);
      applyInPlace(o, offset, target.subarray(0, n));
      return n;
    },
  };
}
