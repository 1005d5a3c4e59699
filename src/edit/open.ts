// Making an image writable: the checks and repairs the format asks for before
// a file is changed (MS-VHDX 2.3.3), then the editor. Nothing is written
// when the file is clean; a dirty log is replayed onto the file first.
import { VhdxError } from '../errors.js';
import { NIL_GUID, randomGuid } from '../format/guid.js';
import { HEADER_AREA_END } from '../format/region-table.js';
import { parseHeaderSection } from '../image/header-section.js';
import type { ImageModel } from '../image/load.js';
import type { OpenVhdxOptions, VhdxImage } from '../image/image.js';
import { openVhdxSource, type OpenContext, type PrepareEdit } from '../image/open.js';
import type { Problem, RegionInfo } from '../image/types.js';
import type { RandomAccessFile } from '../sources/types.js';
import { Editor } from './editor.js';
import { Journal } from './journal.js';

/** One thing a repair did to the file (what `vhdx check -r all` prints). */
export type RepairAction =
  /** The log's active sequence was written onto the file. */
  | { action: 'log-replayed'; entries: number; sectors: number }
  /** The header named a log holding no entry of it: LogGuid set to zero. */
  | { action: 'log-cleared' }
  /** The file was grown to the log's LastFileOffset. */
  | { action: 'file-extended'; from: number; to: number };

/** What {@link repairVhdxFile} did; empty when the file was clean. */
export interface RepairReport {
  actions: RepairAction[];
}

/** Problems about the log that a repair settles. */
const LOG_PROBLEMS = new Set<Problem['reason']>(['log-no-sequence', 'log-entry-skipped']);

/**
 * What a writable open of `file` does once the chain is found: reads the
 * headers again, replays a dirty log onto the file, and returns the editor.
 * @throws VhdxError `CORRUPT` (`log-not-replayable`) for a dirty log whose
 *   entries are damaged so that no valid sequence remains (the format forbids
 *   writing such a file); `TRUNCATED` (`region-past-eof`) for a clean log that
 *   lies past the end of the file (nothing written); `IO` (`read-failed`, `write-failed`).
 */
export function prepareEditor(file: RandomAccessFile, actions: RepairAction[] = []): PrepareEdit {
  return async (image, model, problems) => {
    const { journal, bat, repaired } = await prepareJournal(file, model, problems, actions);
    return new Editor(journal, model, bat, (offset, length) => image.readNow(offset, length), repaired);
  };
}

/** The journal of a file about to be changed (its log replayed first), with where its BAT is. */
async function prepareJournal(
  file: RandomAccessFile,
  model: ImageModel,
  problems: Problem[],
  actions: RepairAction[] = [],
): Promise<{ journal: Journal; bat: RegionInfo; repaired: boolean }> {
  const section = parseHeaderSection(await file.read(0, HEADER_AREA_END), []);
  const { logOffset, logLength } = section.header;
  if (logOffset + logLength > file.size) {
    // a clean log past the end (a problem only for readers): the first entry would be written there
    throw new VhdxError(
      'region-past-eof',
      `the log ends at ${logOffset + logLength}, past the ${file.size}-byte file (a truncated file): it cannot be written`,
      { structure: 'log', offset: logOffset },
    );
  }
  const journal = new Journal(file, section.header, section.currentHeader === 1 ? 0 : 1, file.size);
  const repaired = section.dirty ? await repairLog(journal, model, problems, actions) : false;
  return { journal, bat: section.bat, repaired };
}

/**
 * A writable image with the parts an in-place operation changes directly
 * (edit/compact.ts, resize.ts, parent.ts): its journal, model and BAT region.
 * Everything goes through the journal, so the image's own editor and the
 * operation share one log session; closing the image ends it.
 */
export interface EditSession {
  image: VhdxImage;
  journal: Journal;
  model: ImageModel;
  bat: RegionInfo;
  /** The FileWriteGuid is already new (a log was replayed at open). */
  fileGuidNew: boolean;
  /** The image's editor (writes and discards through the same journal). */
  editor: Editor;
}

/**
 * Opens `file` writable as {@link openVhdxWritable}, keeping its parts.
 * `precheck` sees the model before anything is written (a refusal there
 * leaves the file untouched, even a dirty one).
 * @throws VhdxError as {@link openVhdxWritable}, and whatever `precheck` throws.
 */
export async function openEditSession(
  file: RandomAccessFile,
  options: OpenVhdxOptions,
  context: OpenContext | undefined,
  precheck?: (model: ImageModel) => void,
): Promise<EditSession> {
  let parts: Omit<EditSession, 'image'> | undefined;
  const prepare: PrepareEdit = async (image, model, problems) => {
    precheck?.(model);
    const { journal, bat, repaired } = await prepareJournal(file, model, problems);
    const editor = new Editor(journal, model, bat, (offset, length) => image.readNow(offset, length), repaired);
    parts = { journal, model, bat, fileGuidNew: repaired, editor };
    return editor;
  };
  const image = await openVhdxSource(file, options, context, prepare);
  return { image, ...parts! };
}

/**
 * Replays the log onto the file (header update with a new FileWriteGuid
 * first; the file grown to LastFileOffset; then LogGuid zero), or clears a
 * log that names a LogGuid no entry carries (what QEMU 7.2 leaves when its log
 * write fails). Returns true: the FileWriteGuid is new.
 */
async function repairLog(journal: Journal, model: ImageModel, problems: Problem[], actions: RepairAction[]): Promise<boolean> {
  const overlay = model.overlay;
  if (!overlay || overlay.entriesReplayed === 0) {
    const damaged = problems.find((p) => p.reason === 'log-entry-skipped');
    if (damaged) {
      throw new VhdxError(
        'log-not-replayable',
        `the log is dirty but its entries are damaged (${damaged.message}) and no valid sequence remains: the file must not be written`,
        { structure: 'log', offset: journal.header.logOffset },
      );
    }
    await journal.updateHeader({ fileWriteGuid: randomGuid(), logGuid: NIL_GUID });
    actions.push({ action: 'log-cleared' });
  } else {
    const from = journal.size;
    await journal.updateHeader({ fileWriteGuid: randomGuid() });
    // zeros past the end of the grown file need no writing (they read as zeros), and a
    // zero descriptor may claim up to 2^64 bytes
    const end = Math.max(journal.size, overlay.lastFileOffset);
    for (const z of overlay.zeros) if (z.start < end) await journal.writeZeros(z.start, Math.min(z.end, end) - z.start);
    for (const at of overlay.sectorOffsets) await journal.write(overlay.sectors.get(at)!, at);
    await journal.grow(overlay.lastFileOffset);
    await journal.flush();
    await journal.updateHeader({ logGuid: NIL_GUID });
    actions.push({ action: 'log-replayed', entries: overlay.entriesReplayed, sectors: overlay.sectorOffsets.length });
    if (journal.size > from) actions.push({ action: 'file-extended', from, to: journal.size });
  }
  delete model.overlay;
  const info = model.info;
  info.log.state = 'clean';
  info.log.guid = NIL_GUID;
  info.fileWriteGuid = journal.header.fileWriteGuid;
  info.headerSequenceNumber = journal.header.sequenceNumber;
  info.currentHeader = journal.slot === 0 ? 1 : 2;
  info.fileSize = journal.size;
  for (let i = problems.length - 1; i >= 0; i--) if (LOG_PROBLEMS.has(problems[i]!.reason)) problems.splice(i, 1);
  return true;
}

/**
 * Opens `file` (both halves of the seam) as a writable image; the image owns
 * it from then on. Chain options as for a read-only open; parents are opened
 * read-only.
 * @throws VhdxError as a read-only open, and as {@link prepareEditor}.
 */
export function openVhdxWritable(file: RandomAccessFile, options: OpenVhdxOptions = {}, context?: OpenContext): Promise<VhdxImage> {
  return openVhdxSource(file, options, context, prepareEditor(file));
}

/**
 * Repairs `file` as `qemu-img check -r all` does: a writable open (a dirty log
 * replayed onto the file, an active log with nothing to replay cleared, the
 * file grown to LastFileOffset), then close. Returns what was done; a clean
 * file is not written at all. A differencing file's parent need not be found.
 * @throws VhdxError as {@link openVhdxWritable}: `log-not-replayable` and
 *   `log-flushed-past-eof` for a file the format forbids writing (nothing written).
 */
export async function repairVhdxFile(file: RandomAccessFile, options: OpenVhdxOptions = {}, context?: OpenContext): Promise<RepairReport> {
  const actions: RepairAction[] = [];
  // the log concerns this file alone: a differencing file is repaired without its parent
  const image = await openVhdxSource(file, { ...options, writable: true, allowMissingParent: true }, context, prepareEditor(file, actions));
  await image.close();
  return { actions };
}
