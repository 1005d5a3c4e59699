// Opening an existing file, in order. Each step lives in its own module; this
// one only orchestrates. Every count, offset and length is checked by the
// step that reads it, before anything sized by it is allocated. Damage that a
// second copy repairs is recorded as a problem, not thrown.
import { BlockState } from '../format/bat.js';
import { HEADER_SECTION_SIZE } from '../format/region-table.js';
import { loadBat, type BlockMap } from './bat.js';
import { loadSectorBitmaps, type SectorBitmaps } from './bitmap.js';
import { checkRegionsInFile, parseHeaderSection, type HeaderSection } from './header-section.js';
import type { ResolvedLimits } from './limits.js';
import { replayLog } from './log-replay.js';
import { parentLinkOf, type ParentLink } from './locator.js';
import { loadMetadata, type Metadata } from './metadata.js';
import { overlayReader, type LogOverlay } from './overlay.js';
import type { ByteReader } from './reader.js';
import type { Problem, VhdxInfo } from './types.js';

/** Everything needed to map virtual offsets to file offsets. */
export interface ImageModel extends BlockMap {
  info: VhdxInfo;
  blockSize: number;
  virtualSize: number;
  /** Problems that did not stop the open (damaged copies, skipped log entries). */
  problems: Problem[];
  /** The replayed log, for dirty images: every file read goes through it (see overlay.ts). */
  overlay?: LogOverlay;
  logicalSectorSize: number;
  /** Differencing files: the parent their locator names. */
  parentLink?: ParentLink;
  /** Differencing files: the bits of every PARTIALLY_PRESENT block (absent until loaded; see `deferBitmaps`). */
  bitmaps?: SectorBitmaps;
}

/**
 * Loads and validates the structure of an image. Pass `section` when the
 * header section was already parsed (the streaming decoder parses it first
 * to learn what to hold), and `deferBitmaps` to read a differencing file's
 * sector bitmaps later with {@link loadModelBitmaps} (once a stream has
 * brought them).
 * @throws VhdxError for anything fatal; see each step for its reasons.
 */
export async function loadImage(
  source: ByteReader,
  limits: ResolvedLimits,
  problems: Problem[] = [],
  section?: HeaderSection,
  deferBitmaps = false,
): Promise<ImageModel> {
  // 1. The header section: identifier, current header, region table.
  section ??= parseHeaderSection(await source.read(0, Math.min(source.size ?? HEADER_SECTION_SIZE, HEADER_SECTION_SIZE)), problems);

  // 2. Every region must lie in the file.
  if (source.size !== undefined) checkRegionsInFile(section, source.size, problems);

  // 3. A dirty log is replayed into an overlay; everything past the header
  //    section is read through it from here on. The file is never written.
  const overlay = section.dirty ? await replayLog(source, section.header, limits, problems) : undefined;
  const reader = overlayReader(source, overlay);

  // 4. Metadata: block size, disk size, sector sizes, parent locator.
  const meta = await loadMetadata(reader, section.metadata, limits);

  // 5. A differencing file's locator must name a VHDX parent and say how to find it.
  const parentLink = meta.fileParameters.hasParent ? parentLinkOf(meta, section.metadata.offset) : undefined;

  // 6. The BAT: where each block is, checked against the regions and the file.
  const blocks = await loadBat(reader, section.bat, meta, section.regions, limits, problems);

  // 7. What the image is, for callers.
  const model: ImageModel = {
    ...blocks,
    info: describeImage(section, meta, blocks, overlay, reader.size),
    blockSize: meta.fileParameters.blockSize,
    virtualSize: meta.virtualSize,
    logicalSectorSize: meta.logicalSectorSize,
    problems,
  };
  if (overlay) model.overlay = overlay;
  if (parentLink) model.parentLink = parentLink;

  // 8. The sector bitmaps of partially present blocks.
  if (!deferBitmaps) await loadModelBitmaps(reader, model, limits);
  return model;
}

/**
 * Reads a differencing model's sector bitmaps through `reader` (which sees
 * the file as a replayed log leaves it); nothing to do for other files.
 * @throws VhdxError as {@link loadSectorBitmaps}.
 */
export async function loadModelBitmaps(reader: ByteReader, model: ImageModel, limits: ResolvedLimits): Promise<void> {
  if (!model.bitmapOffsetsMiB) return;
  model.bitmaps = await loadSectorBitmaps(
    reader,
    model,
    { blockSize: model.blockSize, virtualSize: model.virtualSize, sectorSize: model.logicalSectorSize },
    limits,
  );
}

function describeImage(
  section: HeaderSection,
  meta: Metadata,
  blocks: BlockMap,
  overlay: LogOverlay | undefined,
  fileSize: number | undefined,
): VhdxInfo {
  const { header } = section;
  const { blockSize, hasParent, leaveBlocksAllocated } = meta.fileParameters;
  let allocatedBlocks = 0;
  for (let i = 0; i < blocks.states.length; i++) if (blocks.states[i]! >= BlockState.FULLY_PRESENT) allocatedBlocks++;
  const info: VhdxInfo = {
    virtualSize: meta.virtualSize,
    blockSize,
    logicalSectorSize: meta.logicalSectorSize,
    physicalSectorSize: meta.physicalSectorSize,
    type: hasParent ? 'differencing' : leaveBlocksAllocated ? 'fixed' : 'dynamic',
    creator: section.creator,
    fileWriteGuid: header.fileWriteGuid,
    dataWriteGuid: header.dataWriteGuid,
    virtualDiskId: meta.virtualDiskId,
    log: {
      state: overlay ? 'dirty' : section.dirty ? 'active-empty' : 'clean',
      offset: header.logOffset,
      length: header.logLength,
      guid: header.logGuid,
      entriesReplayed: overlay?.entriesReplayed ?? 0,
      sectorsReplayed: overlay?.sectorsReplayed ?? 0,
    },
    allocatedBlocks,
    allocatedBytes: allocatedBlocks * blockSize,
    blockCount: blocks.blockCount,
    fileSize,
    currentHeader: section.currentHeader,
    headerSequenceNumber: header.sequenceNumber,
    regions: section.regions,
    chain: [],
  };
  info.chain.push({
    type: info.type,
    blockSize,
    allocatedBytes: info.allocatedBytes,
    dataWriteGuid: header.dataWriteGuid,
    parentLinkage: hasParent ? 'missing' : 'none',
  });
  if (meta.parentLocator) info.parentLocator = meta.parentLocator;
  return info;
}
