// Where each region of a new file goes, and the bytes of everything that is
// not payload: file identifier, headers, region tables, metadata and BAT.
//
// Layout (all 1 MiB aligned): header section | log | metadata | BAT | payload.
// When the virtual size is not known up front, the positional writer keeps
// room for a large disk's BAT before the payload (layout/sparse.ts); only an
// input larger than that room puts the BAT after the payload.
import { MiB, dataView } from '../format/bytes.js';
import { BlockState, batEntryCount, batIndexOfBlock, batRegionLength, chunkRatio, payloadBlockCount } from '../format/bat.js';
import { GUIDS, NIL_GUID } from '../format/guid.js';
import { serializeHeader, HEADER_OFFSETS } from '../format/header.js';
import { serializeFileIdentifier } from '../format/identifier.js';
import { serializeMetadataRegion } from '../format/metadata.js';
import { REGION_TABLE_OFFSETS, serializeRegionTable } from '../format/region-table.js';
import type { ResolvedCreateOptions } from './options.js';

export const LOG_OFFSET = MiB;
export const METADATA_LENGTH = MiB;

export interface Layout {
  opts: ResolvedCreateOptions;
  virtualSize: number;
  blockSize: number;
  blockCount: number;
  chunkRatio: number;
  batEntries: number;
  batLength: number;
  logOffset: number;
  metadataOffset: number;
  batOffset: number;
  /** File offset of the first payload block. */
  payloadOffset: number;
}

/**
 * Plans a file. With `batOffset` omitted the BAT sits right before the
 * payload; otherwise at the given (1 MiB aligned) offset past the payload.
 * A `differencing` file's BAT holds a sector-bitmap entry after every chunk.
 */
export function planLayout(opts: ResolvedCreateOptions, virtualSize: number, batOffset?: number, differencing = false): Layout {
  const blockSize = opts.blockSize;
  const blockCount = payloadBlockCount(virtualSize, blockSize);
  const ratio = chunkRatio(opts.logicalSectorSize, blockSize);
  const batEntries = batEntryCount(blockCount, ratio, differencing);
  const batLength = batRegionLength(batEntries);
  const metadataOffset = LOG_OFFSET + opts.logSize;
  const afterMetadata = metadataOffset + METADATA_LENGTH;
  return {
    opts,
    virtualSize,
    blockSize,
    blockCount,
    chunkRatio: ratio,
    batEntries,
    batLength,
    logOffset: LOG_OFFSET,
    metadataOffset,
    batOffset: batOffset ?? afterMetadata,
    payloadOffset: batOffset === undefined ? afterMetadata + batLength : afterMetadata,
  };
}

/** One positioned piece of a file. */
export interface Placed {
  position: number;
  data: Uint8Array;
}

/**
 * The header section pieces: file identifier, both headers, both region
 * tables. Header 2 carries the higher sequence number, so it is current.
 */
export function headerSectionPieces(layout: Layout): Placed[] {
  const { opts } = layout;
  const regions = serializeRegionTable({
    entries: [
      { guid: GUIDS.batRegion, fileOffset: layout.batOffset, length: layout.batLength, required: true },
      { guid: GUIDS.metadataRegion, fileOffset: layout.metadataOffset, length: METADATA_LENGTH, required: true },
    ],
  });
  const header = (sequenceNumber: bigint) =>
    serializeHeader({
      sequenceNumber,
      fileWriteGuid: opts.fileWriteGuid,
      dataWriteGuid: opts.dataWriteGuid,
      logGuid: NIL_GUID,
      logVersion: 0,
      version: 1,
      logLength: opts.logSize,
      logOffset: layout.logOffset,
    });
  return [
    { position: REGION_TABLE_OFFSETS[0], data: regions },
    { position: REGION_TABLE_OFFSETS[1], data: regions },
    { position: HEADER_OFFSETS[0], data: header(1n) },
    { position: HEADER_OFFSETS[1], data: header(2n) },
    // last: a file is not recognisable as VHDX until everything else is down
    { position: 0, data: serializeFileIdentifier({ creator: opts.creator }) },
  ];
}

export function metadataRegion(layout: Layout): Uint8Array {
  const { opts } = layout;
  return serializeMetadataRegion(
    {
      fileParameters: { blockSize: layout.blockSize, leaveBlocksAllocated: opts.type === 'fixed', hasParent: false },
      virtualDiskSize: layout.virtualSize,
      virtualDiskId: opts.virtualDiskId,
      logicalSectorSize: opts.logicalSectorSize,
      physicalSectorSize: opts.physicalSectorSize,
    },
    METADATA_LENGTH,
  );
}

/**
 * Builds the BAT region from per-block file offsets in MiB (0 = not present).
 * Sector-bitmap entries stay NOT_PRESENT (zero).
 */
export function batRegion(layout: Layout, offsetsMiB: Uint32Array): Uint8Array {
  const bat = new Uint8Array(layout.batLength);
  const dv = dataView(bat);
  for (let block = 0; block < layout.blockCount; block++) {
    const off = offsetsMiB[block]!;
    if (off === 0) continue;
    const at = batIndexOfBlock(block, layout.chunkRatio) * 8;
    // offsets stay below 2^32 MiB, so the high word holds off >> 12
    dv.setUint32(at, ((off & 0xfff) << 20) | BlockState.FULLY_PRESENT, true);
    dv.setUint32(at + 4, Math.floor(off / 4096), true);
  }
  return bat;
}

/** Everything before the first payload block, as one buffer (for streams). */
export function buildPrefix(layout: Layout, offsetsMiB: Uint32Array): Uint8Array {
  const prefix = new Uint8Array(layout.payloadOffset);
  for (const p of headerSectionPieces(layout)) prefix.set(p.data, p.position);
  prefix.set(metadataRegion(layout), layout.metadataOffset);
  prefix.set(batRegion(layout, offsetsMiB), layout.batOffset);
  return prefix;
}

/** Offsets (MiB) of blocks laid out one after another from `payloadOffset`. */
export function sequentialOffsets(layout: Layout, present?: (block: number) => boolean): Uint32Array {
  const out = new Uint32Array(layout.blockCount);
  let next = layout.payloadOffset / MiB;
  const step = layout.blockSize / MiB;
  for (let b = 0; b < layout.blockCount; b++) {
    if (present && !present(b)) continue;
    out[b] = next;
    next += step;
  }
  return out;
}
