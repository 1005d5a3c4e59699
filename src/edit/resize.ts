// Changing the virtual size of a dynamic or fixed file in place (vhdx resize).
//
// Growing: the tail of a stored last block past the old size is zeroed (it
// becomes visible); when the BAT region is too small for the new block count,
// the BAT moves to the end of the file (copied and flushed, then region
// table 1 and region table 2 rewritten, each flushed: MS-VHDX keeps the region
// table out of the log, and a reader that finds one copy torn uses the other,
// both naming a complete BAT); a fixed file gets its new blocks at the end;
// the new BAT entries are journaled, then the Virtual Disk Size item
// (MS-VHDX 2.6.2.2) is journaled last, so until then readers see the old disk.
//
// Shrinking (only when asked, and only when the range cut off reads all
// zero; checked by a read-only open first, so a refusal writes nothing): the
// Virtual Disk Size item is journaled first, then the entries past the new
// block count are cleared, then the file is cut after its last structure.
//
// Differencing files take their size from their parent: refused.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { BlockState, batEntryCount, batIndexOfBlock, chunkRatio } from '../format/bat.js';
import { GUIDS, randomGuid } from '../format/guid.js';
import { MAX_VIRTUAL_SIZE } from '../format/metadata.js';
import { REGION_TABLE_OFFSETS, parseRegionTable, serializeRegionTable, REGION_TABLE_SIZE } from '../format/region-table.js';
import { sameBytes } from '../image/header-section.js';
import type { VhdxImage } from '../image/image.js';
import type { ImageModel } from '../image/load.js';
import type { InPlaceAccess } from './access.js';
import { commitBatEntries, type BatEntryChange } from './bat-log.js';
import type { EditSession } from './open.js';
import { commitAll, metadataEntry, patchedSectors } from './sectors.js';
import { structuresEndMiB } from './compact.js';

/** Options of `resizeVhdx`. */
export interface ResizeOptions {
  /** Allow a smaller size (the range cut off must read all zero). Default false. */
  shrink?: boolean;
}

/** What a resize did. */
export interface ResizeResult {
  sizeBefore: number;
  sizeAfter: number;
  fileSizeBefore: number;
  fileSizeAfter: number;
  /** True when the BAT moved to the end of the file to hold the new block count. */
  batMoved: boolean;
}

/**
 * Resizes a VHDX in place through `access` (see the entries' `resizeVhdx`).
 * @throws VhdxError `INVALID_ARGUMENT`: `invalid-option` (a size that is not a
 *   positive multiple of the logical sector size up to 64 TiB), `operation-not-supported`
 *   (a differencing file), `shrink-not-requested` (smaller without `shrink`),
 *   `shrink-holds-data` (the range cut off holds data; says how much); all of
 *   them before anything is written. As a writable open; `IO`.
 */
export async function resizeWith(access: InPlaceAccess, newSize: number, options: ResizeOptions = {}): Promise<ResizeResult> {
  const { image } = await access.readOnly();
  let sizeBefore: number;
  try {
    const model = image.loadedModel;
    refuseChild(model);
    sizeBefore = model.virtualSize;
    checkSize(newSize, model);
    if (newSize < sizeBefore) {
      if (!options.shrink) {
        throw new VhdxError(
          'shrink-not-requested',
          `${newSize} bytes is smaller than the disk's ${sizeBefore}: shrinking cuts off its end, so it must be asked for (shrink: true)`,
          { structure: 'options', field: 'size' },
        );
      }
      await refuseDataCut(image, model, newSize);
    }
  } finally {
    await image.close();
  }
  const session = await access.editable(refuseChild);
  try {
    const fileSizeBefore = session.journal.size;
    let batMoved = false;
    if (newSize !== session.model.virtualSize) {
      await beforeResize(session);
      await finishRegionTables(session);
      if (newSize > session.model.virtualSize) batMoved = await grow(session, newSize);
      else await shrink(session, newSize);
    }
    return { sizeBefore, sizeAfter: newSize, fileSizeBefore, fileSizeAfter: session.journal.size, batMoved };
  } finally {
    await session.image.close();
  }
}

function refuseChild(model: ImageModel): void {
  if (model.info.type === 'differencing') {
    throw new VhdxError(
      'operation-not-supported',
      'a differencing disk takes its size from its parent and cannot be resized: resize the base of the chain (with no children over it) instead',
      { structure: 'metadata item', field: 'Virtual Disk Size' },
    );
  }
}

function checkSize(size: number, model: ImageModel): void {
  const lss = model.logicalSectorSize;
  if (!Number.isSafeInteger(size) || size <= 0 || size % lss !== 0 || size > MAX_VIRTUAL_SIZE) {
    throw new VhdxError('invalid-option', `the new size must be a positive multiple of ${lss} bytes up to 64 TiB, got ${String(size)}`, {
      structure: 'options',
      field: 'size',
    });
  }
}

/** Refuses (writing nothing) when `[newSize, virtualSize)` holds data, saying how much (whole logical sectors that are not all zero). */
async function refuseDataCut(image: VhdxImage, model: ImageModel, newSize: number): Promise<void> {
  const { blockSize, states } = model;
  const ss = model.logicalSectorSize;
  let data = 0;
  for (let b = Math.floor(newSize / blockSize); b < model.blockCount; b++) {
    if (states[b]! < BlockState.FULLY_PRESENT) continue;
    const start = Math.max(newSize, b * blockSize);
    const end = Math.min(model.virtualSize, (b + 1) * blockSize);
    for (let at = start; at < end; at += 4 * MiB) {
      const got = await image.read(at, Math.min(4 * MiB, end - at));
      for (let s = 0; s < got.length; s += ss) if (got.subarray(s, s + ss).some((x) => x !== 0)) data += Math.min(ss, got.length - s);
    }
  }
  if (data > 0) {
    throw new VhdxError(
      'shrink-holds-data',
      `the ${model.virtualSize - newSize} bytes cut off hold ${data} bytes of data (sectors not all zero): nothing was changed; discard or move that data first`,
      { structure: 'payload', offset: newSize },
    );
  }
}

/** The header update before a change readers can see: new FileWriteGuid and DataWriteGuid. */
async function beforeResize(session: EditSession): Promise<void> {
  const { journal, model } = session;
  await journal.updateHeader({ fileWriteGuid: randomGuid(), dataWriteGuid: randomGuid() });
  const info = model.info;
  info.fileWriteGuid = journal.header.fileWriteGuid;
  info.dataWriteGuid = journal.header.dataWriteGuid;
  info.chain[0]!.dataWriteGuid = info.dataWriteGuid;
  info.headerSequenceNumber = journal.header.sequenceNumber;
  info.currentHeader = journal.slot === 0 ? 1 : 2;
}

/** Journals the Virtual Disk Size item's new value. */
async function commitSize(session: EditSession, size: number): Promise<void> {
  const { journal, image } = session;
  const region = image.info.regions.find((r) => r.name === 'metadata')!;
  const entry = (await metadataEntry(journal, region, GUIDS.virtualDiskSize))!;
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(size), true);
  await commitAll(journal, await patchedSectors(journal, region.offset + entry.offset, bytes));
  session.model.virtualSize = size;
  session.model.info.virtualSize = size;
}

/** Grows the disk; returns true when the BAT moved. */
async function grow(session: EditSession, newSize: number): Promise<boolean> {
  const { journal, model, bat } = session;
  const { blockSize, virtualSize: oldSize, blockCount: oldBlocks } = model;
  const ratio = chunkRatio(model.logicalSectorSize, blockSize);
  const newBlocks = Math.ceil(newSize / blockSize);
  const fixed = model.info.type === 'fixed';
  // the stored last block's bytes past the old end become visible: zeros
  const last = oldBlocks - 1;
  const tail = oldBlocks * blockSize - oldSize;
  if (tail > 0 && model.states[last]! >= BlockState.FULLY_PRESENT) {
    await journal.writeZeros(model.offsetsMiB[last]! * MiB + (blockSize - tail), tail);
  }
  const oldEntries = batEntryCount(oldBlocks, ratio, false);
  const newEntries = batEntryCount(newBlocks, ratio, false);
  let batMoved = false;
  if (newEntries * 8 > bat.length) {
    await moveBat(session, Math.ceil((newEntries * 8) / MiB) * MiB);
    batMoved = true;
  }
  // a fixed file's new blocks, at the end
  let firstNew = 0;
  if (fixed) {
    firstNew = Math.ceil(journal.size / MiB) * MiB;
    await journal.grow(firstNew + (newBlocks - oldBlocks) * blockSize);
  }
  await journal.flush();
  const changes: BatEntryChange[] = [];
  for (let i = oldEntries; i < newEntries; i++) changes.push({ index: i, state: 0, offsetMiB: 0 });
  for (let b = oldBlocks; b < newBlocks; b++) {
    const change = changes[batIndexOfBlock(b, ratio) - oldEntries]!;
    if (fixed) {
      change.state = BlockState.FULLY_PRESENT;
      change.offsetMiB = (firstNew + (b - oldBlocks) * blockSize) / MiB;
    } else change.state = BlockState.NOT_PRESENT;
  }
  await commitBatEntries(journal, bat, changes);
  await commitSize(session, newSize);
  return batMoved;
}

/**
 * Moves the BAT to the end of the file in a region of `length` bytes: copied
 * (the rest zeros) and flushed, then region table 1 and region table 2
 * rewritten and flushed one after the other.
 */
async function moveBat(session: EditSession, length: number): Promise<void> {
  const { journal, bat, image } = session;
  const to = Math.ceil(journal.size / MiB) * MiB;
  await journal.grow(to + length);
  for (let at = 0; at < bat.length; at += 4 * MiB) {
    await journal.write(await journal.read(bat.offset + at, Math.min(4 * MiB, bat.length - at)), to + at);
  }
  await journal.flush();
  const table = parseRegionTable(await journal.read(REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE), REGION_TABLE_OFFSETS[0]);
  const entry = table.entries.find((e) => e.guid === GUIDS.batRegion)!;
  entry.fileOffset = to;
  entry.length = length;
  const bytes = serializeRegionTable(table);
  for (const at of REGION_TABLE_OFFSETS) {
    await journal.write(bytes, at);
    await journal.flush();
  }
  // the editor and the image share this region object
  bat.offset = to;
  bat.length = length;
  const shown = image.info.regions.find((r) => r.name === 'bat');
  if (shown && shown !== bat) {
    shown.offset = to;
    shown.length = length;
  }
}

/**
 * A resize stopped between its two region table writes leaves them
 * different (readers use the first): region table 2 is made the first's copy
 * again, so a rerun finishes what the stopped one began.
 */
async function finishRegionTables(session: EditSession): Promise<void> {
  const { journal } = session;
  const [one, two] = await Promise.all(REGION_TABLE_OFFSETS.map((at) => journal.read(at, REGION_TABLE_SIZE)));
  if (sameBytes(one!, two!)) return;
  parseRegionTable(one!, REGION_TABLE_OFFSETS[0]); // the first is the one in use: it must be valid
  await journal.write(one!.slice(), REGION_TABLE_OFFSETS[1]);
  await journal.flush();
}

/** Shrinks the disk (the range cut off was checked to read all zero). */
async function shrink(session: EditSession, newSize: number): Promise<void> {
  const { journal, model, bat, image } = session;
  const { blockSize, blockCount: oldBlocks } = model;
  const ratio = model.chunkRatio;
  const newBlocks = Math.ceil(newSize / blockSize);
  await commitSize(session, newSize);
  const oldEntries = batEntryCount(oldBlocks, ratio, false);
  const newEntries = batEntryCount(newBlocks, ratio, false);
  const changes: BatEntryChange[] = [];
  for (let i = newEntries; i < oldEntries; i++) changes.push({ index: i, state: 0, offsetMiB: 0 });
  await commitBatEntries(journal, bat, changes);
  // the file ends after its last structure and the blocks kept
  let endMiB = await structuresEndMiB(journal, image.info.regions);
  for (let b = 0; b < newBlocks; b++) {
    if (model.states[b]! >= BlockState.FULLY_PRESENT) endMiB = Math.max(endMiB, model.offsetsMiB[b]! + blockSize / MiB);
  }
  if (endMiB * MiB < journal.size) {
    await journal.shrink(endMiB * MiB, { fileOffset: bat.offset, data: (await journal.read(bat.offset, 4096)).slice() });
  }
}
