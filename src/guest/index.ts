// findUnusedRanges(): which bytes of a disk no filesystem inside it uses.
// Read-only and conservative: only what a filesystem's own allocation
// records mark free is reported, and only when every check holds.
import { VhdxError } from '../errors.js';
import { readExt4 } from './ext4.js';
import { type Layout, type Region, readLayout } from './partitions.js';
import { hasExt4Magic, probeFilesystem } from './probe.js';
import { FreeRuns, TRIM_ALIGN } from './ranges.js';
import { type ReadFunction, Refusal, RegionReader, readDisk } from './read.js';
import type { DiskRange, GuestOptions, GuestPartition, GuestReport, GuestVerdict } from './types.js';

export type * from './types.js';

const DEFAULT_MIN_RUN = 64 * 1024;
const DEFAULT_BUFFER = 4 * 1024 * 1024;
const MIN_BUFFER = 128 * 1024;
const DEFAULT_MAX_RANGES = 1_000_000;

function option(value: number | undefined, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min)
    throw new VhdxError('invalid-option', `${name} must be an integer of at least ${min}, got ${value}`, {
      structure: 'options',
      field: name,
    });
  return value;
}

function overlaps(a: DiskRange, b: DiskRange): boolean {
  return a.offset < b.offset + b.length && b.offset < a.offset + a.length;
}

/**
 * Finds the byte ranges of a disk that no filesystem inside it uses, so a
 * compaction can discard them. Read-only; never reports a block its
 * filesystem marks used.
 *
 * The disk is divided by its GPT (primary header at LBA 1, 512- or 4096-byte
 * sectors; header and entry-array CRC-32 checked), its MBR (primary entries
 * and the chain of logical partitions), or, with neither, taken whole. Each
 * region is probed; ext2/3/4 filesystems are read (superblock, group
 * descriptors, block bitmaps) and everything else is skipped. Space outside
 * every filesystem (gaps between partitions, the table itself, the tail of a
 * partition past its filesystem) is never reported free. See docs/fs-trim.md
 * for every check and refusal.
 *
 * @param read reads `length` bytes at disk offset `offset` (never asked for bytes past `diskSize`)
 * @param diskSize the disk's size in bytes
 * @returns each region with its filesystem and verdict, and every free range together
 * @throws VhdxError `IO` (`read-failed`) when `read` fails or returns fewer bytes than asked;
 *   `INVALID_ARGUMENT` (`invalid-option`) for a bad size or option. A damaged or
 *   unknown filesystem or table is a refusal in the report, never an exception.
 */
export async function findUnusedRanges(read: ReadFunction, diskSize: number, options: GuestOptions = {}): Promise<GuestReport> {
  if (typeof read !== 'function')
    throw new VhdxError('invalid-option', 'read must be a function (offset, length) => Promise<Uint8Array>', {
      structure: 'options',
      field: 'read',
    });
  if (!Number.isSafeInteger(diskSize) || diskSize < 0)
    throw new VhdxError('invalid-option', `diskSize must be a non-negative integer, got ${diskSize}`, {
      structure: 'options',
      field: 'diskSize',
    });
  const minRun = option(options.minRunBytes, DEFAULT_MIN_RUN, 'minRunBytes', TRIM_ALIGN);
  const bufferBytes = option(options.maxBufferBytes, DEFAULT_BUFFER, 'maxBufferBytes', MIN_BUFFER);
  const maxRanges = option(options.maxRanges, DEFAULT_MAX_RANGES, 'maxRanges', 0);
  const mbrSectorSize = options.sectorSize ?? 512;
  if (mbrSectorSize !== 512 && mbrSectorSize !== 4096)
    throw new VhdxError('invalid-option', `sectorSize must be 512 or 4096, got ${mbrSectorSize}`, {
      structure: 'options',
      field: 'sectorSize',
    });

  const whole: Region = { index: 0, offset: 0, length: diskSize };
  let layout: Layout;
  try {
    const fsAtZero = diskSize >= 2048 && hasExt4Magic(await readDisk(read, 0, 2048));
    layout = await readLayout(read, diskSize, mbrSectorSize, fsAtZero, bufferBytes);
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    const verdict: GuestVerdict = { kind: 'refused', reason: err.reason, message: err.message };
    const table = err.table ?? 'none';
    return summarize({ table, sectorSize: mbrSectorSize, regions: [], reserved: [] }, [{ ...whole, filesystem: 'unknown', verdict }]);
  }

  const partitions: GuestPartition[] = [];
  let budget = maxRanges;
  for (const region of layout.regions) {
    const entry = {
      index: region.index,
      offset: region.offset,
      length: region.length,
      ...(region.type ? { type: region.type } : {}),
      ...(region.name ? { name: region.name } : {}),
    };
    const clash =
      region.offset + region.length > diskSize
        ? 'runs past the end of the disk'
        : layout.reserved.some((r) => overlaps(r, region))
          ? 'overlaps the partition table'
          : layout.regions.some((o) => o !== region && overlaps(o, region))
            ? 'overlaps another partition'
            : undefined;
    if (clash) {
      partitions.push({
        ...entry,
        filesystem: 'unknown',
        verdict: { kind: 'refused', reason: 'partition-overlap', message: `partition ${region.index} ${clash}` },
      });
      continue;
    }
    const reader = new RegionReader(read, region.offset, region.length);
    const filesystem = await probeFilesystem(reader);
    if (filesystem !== 'ext4') {
      const message = filesystem === 'unknown' ? 'no filesystem recognized' : `${filesystem} is not read; nothing reported free`;
      partitions.push({ ...entry, filesystem, verdict: { kind: 'skipped', message } });
      continue;
    }
    const runs = new FreeRuns(minRun, budget);
    let verdict: GuestVerdict;
    try {
      const result = await readExt4(reader, runs, bufferBytes);
      verdict = {
        kind: 'trimmed',
        free: runs.ranges,
        freeBytes: runs.freeBytes,
        filesystemFreeBytes: result.filesystemFreeBytes,
        rangesDropped: runs.dropped,
      };
      budget -= runs.ranges.length;
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      verdict = { kind: 'refused', reason: err.reason, message: err.message };
    }
    partitions.push({ ...entry, filesystem, verdict });
  }
  return summarize(layout, partitions);
}

function summarize(layout: Layout, partitions: GuestPartition[]): GuestReport {
  const free: DiskRange[] = [];
  let freeBytes = 0;
  const counts = { trimmed: 0, refused: 0, skipped: 0 };
  for (const p of partitions) {
    counts[p.verdict.kind]++;
    if (p.verdict.kind === 'trimmed') {
      free.push(...p.verdict.free);
      freeBytes += p.verdict.freeBytes;
    }
  }
  free.sort((a, b) => a.offset - b.offset);
  return { table: layout.table, sectorSize: layout.sectorSize, partitions, free, freeBytes, ...counts };
}
