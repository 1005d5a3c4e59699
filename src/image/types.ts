import type { LinkageMismatch, VhdxError, VhdxErrorCode, VhdxErrorFile, VhdxErrorLocation, VhdxErrorReason } from '../errors.js';

/** One problem found in a file, for `check()` reports. */
export interface Problem {
  /** The category, as a thrown error would carry it. */
  code: VhdxErrorCode;
  /** The precise reason (a closed set; see `VhdxErrorReason`). */
  reason: VhdxErrorReason;
  /** What a person reads. */
  message: string;
  /** The structure concerned, when known. */
  structure?: VhdxErrorLocation['structure'];
  /** The field within the structure, when known. */
  field?: string;
  /** Absolute file offset, when known (in the file of `level`). */
  offset?: number;
  /** Which file of a differencing chain the problem is in: absent or 0 for the file itself, 1 for its parent, and so on. */
  level?: number;
  /**
   * `warning`: something a caller chose to accept (a parent whose DataWriteGuid changed, with `ignoreLinkage`)
   * or that readers handle alike (an active log with nothing in it to replay); `ok` stays true.
   */
  severity?: 'warning';
  /**
   * The problem that stopped the check: nothing after it was looked at; it is the error opening the file
   * throws. Absent on the others.
   */
  stopped?: true;
  /** The file it is about, when the error that stopped the check knew it (see `VhdxError.file`). */
  file?: VhdxErrorFile;
  /** For `parent-linkage-mismatch`: both GUIDs and the files. */
  linkage?: LinkageMismatch;
}

const reported = new WeakMap<VhdxError, Problem>();

/**
 * Records every problem a step found in `problems`, in file order, and
 * returns the first as the error to throw; `check()` knows it is listed.
 */
export function reportAll(problems: Problem[], errors: VhdxError[]): VhdxError {
  for (const e of errors) {
    const p = problemOf(e);
    problems.push(p);
    reported.set(e, p);
  }
  return errors[0]!;
}

/**
 * Records `err`, the error that stopped a check, in `problems` (once: a step may have listed it already)
 * and marks it `stopped`, with the file it is about (known only once it has left the step).
 */
export function recordStop(problems: Problem[], err: VhdxError): void {
  let p = reported.get(err);
  if (!p || !problems.includes(p)) {
    p = problemOf(err);
    problems.push(p);
  }
  p.stopped = true;
  if (err.file !== undefined) {
    p.file = err.file;
    // an error in a parent that stopped the chain: its level, as check() gives every parent's problems
    if (err.file.role === 'parent' && err.file.level !== undefined) p.level = err.file.level;
  }
}

/** The problem a thrown error describes. */
export function problemOf(err: VhdxError): Problem {
  // the message without the file: a report says which level each problem is in
  const p: Problem = { code: err.code, reason: err.reason, message: err.located };
  if (err.structure !== undefined) p.structure = err.structure;
  if (err.field !== undefined) p.field = err.field;
  if (err.offset !== undefined) p.offset = err.offset;
  if (err.file !== undefined) p.file = err.file;
  if (err.linkage !== undefined) p.linkage = err.linkage;
  return p;
}

/** A region of the file, as the region table and header describe it. */
export interface RegionInfo {
  name: 'log' | 'bat' | 'metadata' | string;
  offset: number;
  length: number;
  required?: boolean;
}

/** Log state of an image. */
export interface LogInfo {
  /**
   * `clean`: nothing to replay; `dirty`: the log was replayed in memory; `active-empty`: the header names
   * an active log that holds no entry of it (a writer stopped before its first log write landed), so
   * there is nothing to replay and the file reads as it stands.
   */
  state: 'clean' | 'dirty' | 'active-empty';
  offset: number;
  length: number;
  /** The current header's LogGuid (nil when clean). */
  guid: string;
  /** Entries replayed (dirty logs only). */
  entriesReplayed: number;
  /** 4 KiB sectors written or zeroed by the replay. */
  sectorsReplayed: number;
}

/** What an image is. GUIDs are lowercase canonical strings. */
export interface VhdxInfo {
  virtualSize: number;
  blockSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  type: 'fixed' | 'dynamic' | 'differencing';
  creator: string;
  fileWriteGuid: string;
  dataWriteGuid: string;
  virtualDiskId: string;
  log: LogInfo;
  /** Blocks whose payload is stored in the file. */
  allocatedBlocks: number;
  /** Bytes of payload stored in the file (allocated blocks times block size). */
  allocatedBytes: number;
  blockCount: number;
  /** Size of the file, when known. */
  fileSize: number | undefined;
  /** Which header copy (1 or 2) is current, and its sequence number. */
  currentHeader: 1 | 2;
  headerSequenceNumber: bigint;
  regions: RegionInfo[];
  /** For differencing disks: the parent locator's key/value pairs. */
  parentLocator?: Record<string, string>;
  /**
   * The files whose contents make up the disk: this file first, then its parent and so on to the base
   * (a one-entry list for a file without a parent).
   */
  chain: ChainLevel[];
}

/** One file of a differencing chain, as {@link VhdxInfo.chain} lists it. */
export interface ChainLevel {
  /** The path or URL it was opened from, when known (not for bytes, Blobs or custom sources). */
  location?: string;
  type: VhdxInfo['type'];
  blockSize: number;
  /** Bytes of payload stored in this file. */
  allocatedBytes: number;
  dataWriteGuid: string;
  /**
   * This file's link to its parent: `ok` (the parent's DataWriteGuid is the one its locator names),
   * `mismatch` (accepted anyway with `ignoreLinkage`, or shown by a report), `missing` (not found, opened with
   * `allowMissingParent`), `none` (not a differencing file).
   */
  parentLinkage: 'ok' | 'mismatch' | 'missing' | 'none';
  /** With `mismatch`: the GUIDs and files, as `parent-linkage-mismatch` errors carry them. */
  mismatch?: LinkageMismatch;
}

/**
 * A stretch of the virtual disk and where its bytes come from. `level` says
 * which file of a differencing chain holds data: 0 for the file itself, 1 for
 * its parent, and so on (always 0 for a file without a parent).
 */
export type Extent =
  | { kind: 'data'; offset: number; length: number; fileOffset: number; level: number }
  | { kind: 'zero'; offset: number; length: number }
  | { kind: 'unmapped'; offset: number; length: number };
