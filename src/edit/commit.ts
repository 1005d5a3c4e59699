// Committing a differencing child into its parent in place (vhdx commit;
// qemu-img commit, Merge-VHD): the parent is written through its own log so
// that it reads as the chain did, then the child is emptied (every block
// NOT_PRESENT: it reads as the parent again) or removed by the caller.
//
// Crash safety across the two files: the parent's DataWriteGuid changes at
// its first write, which would orphan the child. So first the child's locator
// says parent_linkage = the parent's DataWriteGuid now and parent_linkage2 =
// the one the parent will get (through the child's log); the parent's header
// then takes that GUID before its first write. At every point the child
// links to the parent (by one GUID or the other) and reads as before: the
// sectors the parent has taken from the child read the same through the
// child. A rerun starts the same way (the GUID the parent has now first) and
// writes the same bytes again. Emptying the child is one more logged change
// that reads the same; parent_linkage then names the new GUID alone.
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
  /** Payload blocks of the child written into the parent (or discarded there, for ZERO blocks). */
  blocksCommitted: number;
  /** The parent's DataWriteGuid now. */
  parentDataWriteGuid: string;
}

/** How a commit opens its two files. */
export interface CommitAccess {
  /** The child, its parent found as usual. */
  child: InPlaceAccess;
  /** The parent alone (its own chain read-only). */
  parent: InPlaceAccess;
  /** The child read-only over `parent` (an opened image). */
  childOver(parent: VhdxImage): Promise<VhdxImage>;
}

/**
 * Commits a child into its parent (see the entries' `commitVhdx`); `empty`:
 * leave the child empty afterwards (else the caller removes it).
 * @throws VhdxError `operation-not-supported` for a file without a parent; as a chain's writable open.
 */
export async function commitWith(access: CommitAccess, empty: boolean, options: CommitOptions = {}): Promise<CommitResult> {
  const next = randomGuid();
  // 1. the child names the parent's GUID now and the one it will get
  const child = await access.child.editable((model) => {
    if (!model.parentLink) {
      throw new VhdxError('operation-not-supported', 'the file has no parent: only a differencing disk can be committed', {
        structure: 'metadata item',
      });
    }
  });
  let states: Uint8Array;
  let blockSize: number;
  let virtualSize: number;
  let parent: EditSession | undefined;
  try {
    const now = child.image.parent!.info.dataWriteGuid.toLowerCase();
    // nothing reads differently from the parent: neither file is written (the parent keeps its DataWriteGuid)
    if (!child.model.states.some((s) => s >= BlockState.FULLY_PRESENT || s === BlockState.ZERO)) {
      return { blocksCommitted: 0, parentDataWriteGuid: now };
    }
    // the parent opened for writing first: one that cannot be written refuses before the child changes
    parent = await access.parent.editable();
    const entries = { ...child.model.parentLink!.entries, parent_linkage: `{${now}}`, parent_linkage2: `{${next}}` };
    await writeLocator(child, entries, false);
    states = child.model.states.slice();
    ({ blockSize, virtualSize } = child.model);
  } catch (err) {
    await parent?.image.close();
    throw err;
  } finally {
    await child.image.close();
  }
  // 2. the parent takes the new GUID, then the child's blocks as the chain reads them
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
      for (let b = 0; b < states.length; b++) {
        const state = states[b]!;
        const start = b * blockSize;
        const length = Math.min(blockSize, virtualSize - start);
        if (state >= BlockState.FULLY_PRESENT) {
          for (let at = 0; at < length; at += 4 * MiB) {
            const n = Math.min(4 * MiB, length - at);
            await parent.image.write(start + at, await over.read(start + at, n));
          }
        } else if (state === BlockState.ZERO) await parent.image.discard(start, length);
        else continue;
        committed++;
        options.onProgress?.(start + length, virtualSize);
      }
    } finally {
      await over.close();
    }
  } finally {
    await parent.image.close();
  }
  // 3. the child emptied: every block reads as the parent again; the locator names the new GUID alone
  if (empty) await emptyChild(access, next);
  return { blocksCommitted: committed, parentDataWriteGuid: next };
}

async function emptyChild(access: CommitAccess, guid: string): Promise<void> {
  const child = await access.child.editable();
  try {
    const { journal, model, bat, image } = child;
    const ratio = model.chunkRatio;
    const changes: BatEntryChange[] = [];
    for (let b = 0; b < model.blockCount; b++) {
      if (model.states[b] !== BlockState.NOT_PRESENT) changes.push({ index: batIndexOfBlock(b, ratio), state: 0, offsetMiB: 0 });
    }
    model.bitmapOffsetsMiB?.forEach((at, c) => {
      if (at !== 0) changes.push({ index: c * (ratio + 1) + ratio, state: 0, offsetMiB: 0 });
    });
    const entries: Record<string, string> = { ...model.parentLink!.entries, parent_linkage: `{${guid}}` };
    delete entries.parent_linkage2;
    await writeLocator(child, entries, false);
    await commitBatEntries(journal, bat, changes);
    // the file ends after its structures
    const endMiB = await structuresEndMiB(journal, image.info.regions);
    if (endMiB * MiB < journal.size) {
      await journal.shrink(endMiB * MiB, { fileOffset: bat.offset, data: (await journal.read(bat.offset, 4096)).slice() });
    }
  } finally {
    await child.image.close();
  }
}
