// Committing a differencing child into its parent, or down to a lower level
// of its chain, in place (vhdx commit [-b BASE]; qemu-img commit, Merge-VHD):
// the base is written through its own log so that it reads as the child's
// chain did, then the levels above it are emptied (every block NOT_PRESENT:
// each reads as the base again), the child last, or the child is removed by
// the caller.
//
// Crash safety across the files: the base's DataWriteGuid changes at its
// first write, which would orphan the level linked to it (the child, or the
// lowest level between). So first that level's locator says parent_linkage =
// the base's DataWriteGuid now and parent_linkage2 = the one the base will get
// (through that level's log); the base's header then takes that GUID before
// its first write. At every point the chain links (by one GUID or the other)
// and reads as before: the base takes, sector by sector, what the chain
// above it reads there, so every level above still reads the same through it.
// The levels are emptied from the bottom up: while a level of the chain still
// holds data, every level above it does too, so the topmost data of each
// sector is either still in place or already in the base, with the same
// bytes. A rerun starts the same way (the GUID the base has now first) and
// writes the same bytes again. Emptying is a logged change that reads the
// same; the level on the base then names its new GUID alone. The levels keep
// their DataWriteGuids: the chain above each still links to it.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { BlockState, batIndexOfBlock } from '../format/bat.js';
import { randomGuid } from '../format/guid.js';
import type { VhdxImage } from '../image/image.js';
import type { InPlaceAccess } from './access.js';
import type { EditSession } from './open.js';
import { commitBatEntries, type BatEntryChange } from './bat-log.js';
import { writeLocator } from './parent.js';
import { structuresEndMiB } from './compact.js';

/** Options of `commitVhdx`. */
export interface CommitOptions {
  /** Called as blocks are committed: bytes of the disk done, of `total`. */
  onProgress?(done: number, total: number): void;
}

/** What a commit did. */
export interface CommitResult {
  /** Stretches of the disk (of the smallest block size in the chain committed) written into the base, or discarded there for ZERO blocks. */
  blocksCommitted: number;
  /** The DataWriteGuid of the file committed into (the parent, or the base) now. */
  parentDataWriteGuid: string;
}

/** How a commit opens its files. */
export interface CommitAccess {
  /** The child, its parents found as usual. */
  child: InPlaceAccess;
  /** The levels between the child and the base, the child's parent first, their parents found as usual (none: commit into the parent). */
  between?: InPlaceAccess[];
  /** The file committed into (the child's parent, or the base) alone, its own chain read-only. */
  parent: InPlaceAccess;
  /** The child's chain read-only, with `parent` (an opened image) in the base's place. */
  childOver(parent: VhdxImage): Promise<VhdxImage>;
}

/** What one level above the base holds. */
interface Level {
  states: Uint8Array;
  blockSize: number;
}

/**
 * Commits a child into its parent or its base (see the Node entry's
 * `commitVhdx`); `empty`: leave the child empty afterwards (else the caller
 * removes it). The levels between are emptied either way.
 * @throws VhdxError `operation-not-supported` for a file without a parent; as a chain's writable open.
 */
export async function commitWith(access: CommitAccess, empty: boolean, options: CommitOptions = {}): Promise<CommitResult> {
  const next = randomGuid();
  const accesses = [access.child, ...(access.between ?? [])];
  const levels: Level[] = [];
  let bottom: EditSession | undefined;
  let parent: EditSession | undefined;
  let virtualSize = 0;
  let now: string;
  try {
    // 1. what each level above the base holds; the level on the base stays open
    for (let i = 0; i < accesses.length; i++) {
      const session = await accesses[i]!.editable(i === 0 ? refuseWithoutParent : undefined);
      levels.push({ states: session.model.states.slice(), blockSize: session.model.blockSize });
      virtualSize = session.model.virtualSize;
      if (i === accesses.length - 1) bottom = session;
      else await session.image.close();
    }
    now = bottom!.image.parent!.info.dataWriteGuid.toLowerCase();
    // nothing reads differently from the base: no file is written (the base keeps its DataWriteGuid)
    if (!levels.some((l) => l.states.some((s) => s >= BlockState.FULLY_PRESENT || s === BlockState.ZERO))) {
      return { blocksCommitted: 0, parentDataWriteGuid: now };
    }
    // the base opened for writing first: one that cannot be written refuses before any level changes
    parent = await access.parent.editable();
    // the level on the base names the base's GUID now and the one it will get
    const entries = { ...bottom!.model.parentLink!.entries, parent_linkage: `{${now}}`, parent_linkage2: `{${next}}` };
    await writeLocator(bottom!, entries, false);
  } catch (err) {
    await parent?.image.close();
    throw err;
  } finally {
    await bottom?.image.close();
  }
  // 2. the base takes the new GUID, then the chain's data as the child reads it
  let committed = 0;
  try {
    const { journal, editor, model } = parent;
    await journal.updateHeader({ fileWriteGuid: randomGuid(), dataWriteGuid: next });
    editor.guidsWritten();
    model.info.fileWriteGuid = journal.header.fileWriteGuid;
    model.info.dataWriteGuid = next;
    model.info.chain[0]!.dataWriteGuid = next;
    const over = await access.childOver(parent.image);
    try {
      committed = await copyChain(levels, virtualSize, over, parent, options);
    } finally {
      await over.close();
    }
  } finally {
    await parent.image.close();
  }
  // 3. the levels emptied from the bottom up (each reads as the base); the one on the base names the new GUID alone
  for (let i = accesses.length - 1; i >= 0; i--) {
    if (i > 0 || empty) await emptyLevel(accesses[i]!, i === accesses.length - 1 ? next : undefined);
  }
  return { blocksCommitted: committed, parentDataWriteGuid: next };
}

/** Bytes of the chain's data read into memory and written into the base as one batch (one flush, one log entry). */
const BATCH = 32 * MiB;
/** Bytes of a stretch looked at at once (a block of the levels, or a part of a larger one). */
const STEP = 4 * MiB;

/**
 * Writes into the base what the chain reads wherever a level above it holds
 * data (ZERO stretches discarded there), in batches of at most
 * {@link BATCH} bytes: runs of consecutive stretches go in one write, and the
 * blocks a batch places in the base are mapped by one flush and one log entry.
 * Returns the stretches (of the smallest block size of the levels) committed.
 */
async function copyChain(
  levels: Level[],
  virtualSize: number,
  over: VhdxImage,
  base: EditSession,
  options: CommitOptions,
): Promise<number> {
  const unit = Math.min(...levels.map((l) => l.blockSize));
  const step = Math.min(unit, STEP);
  // read into one buffer, reused from batch to batch (a batch may pass BATCH by less than a stretch)
  const buffer = new Uint8Array(BATCH + step);
  let batch: { offset: number; data: Uint8Array }[] = [];
  let batched = 0;
  const writeBatch = async () => {
    if (batch.length) await base.editor.writeMany(batch);
    batch = [];
    batched = 0;
  };
  let committed = 0;
  for (let start = 0; start < virtualSize; ) {
    const what = topmost(levels, start);
    // the run of stretches that say the same, up to what the batch has room for
    let end = Math.min(virtualSize, start + step);
    const room = what === 'data' ? BATCH - batched : Number.POSITIVE_INFINITY;
    while (end < virtualSize && end - start < room && topmost(levels, end) === what) end = Math.min(virtualSize, end + step);
    if (what !== 'none') for (let at = start; at < end; at += step) if (at % unit === 0) committed++;
    if (what === 'data') {
      const data = buffer.subarray(batched, batched + end - start);
      // what is not read (zeros, unmapped) reads as zeros
      data.fill(0);
      await over.readExtentsInto(data, start, over.extents({ start, end }));
      batch.push({ offset: start, data });
      batched += end - start;
      if (batched >= BATCH) await writeBatch();
    } else if (what === 'zero') {
      await writeBatch();
      await base.image.discard(start, end - start);
    }
    if (what !== 'none') options.onProgress?.(end, virtualSize);
    start = end;
  }
  await writeBatch();
  return committed;
}

function refuseWithoutParent(model: EditSession['model']): void {
  if (!model.parentLink) {
    throw new VhdxError('operation-not-supported', 'the file has no parent: only a differencing disk can be committed', {
      structure: 'metadata item',
    });
  }
}

/** What the topmost level holding the stretch at `offset` says of it: data to copy, zeros, or nothing (it reads the base). */
function topmost(levels: Level[], offset: number): 'data' | 'zero' | 'none' {
  for (const { states, blockSize } of levels) {
    const s = states[Math.floor(offset / blockSize)]!;
    if (s >= BlockState.FULLY_PRESENT) return 'data';
    if (s === BlockState.ZERO) return 'zero';
  }
  return 'none';
}

/** Every block of a level NOT_PRESENT and the file cut after its structures; `guid`: the locator then names that GUID alone. */
async function emptyLevel(access: InPlaceAccess, guid: string | undefined): Promise<void> {
  const level = await access.editable();
  try {
    const { journal, model, bat, image } = level;
    const ratio = model.chunkRatio;
    const changes: BatEntryChange[] = [];
    for (let b = 0; b < model.blockCount; b++) {
      if (model.states[b] !== BlockState.NOT_PRESENT) changes.push({ index: batIndexOfBlock(b, ratio), state: 0, offsetMiB: 0 });
    }
    model.bitmapOffsetsMiB?.forEach((at, c) => {
      if (at !== 0) changes.push({ index: c * (ratio + 1) + ratio, state: 0, offsetMiB: 0 });
    });
    // a level between that is already empty (a rerun) is not written
    if (guid === undefined && changes.length === 0) return;
    if (guid !== undefined) {
      const entries: Record<string, string> = { ...model.parentLink!.entries, parent_linkage: `{${guid}}` };
      delete entries.parent_linkage2;
      await writeLocator(level, entries, false);
    } else if (!level.fileGuidNew) await journal.updateHeader({ fileWriteGuid: randomGuid() });
    await commitBatEntries(journal, bat, changes);
    // the file ends after its structures
    const endMiB = await structuresEndMiB(journal, image.info.regions);
    if (endMiB * MiB < journal.size) {
      await journal.shrink(endMiB * MiB, { fileOffset: bat.offset, data: (await journal.read(bat.offset, 4096)).slice() });
    }
  } finally {
    await level.image.close();
  }
}
