import type { VhdxError, VhdxErrorCode, VhdxErrorLocation, VhdxErrorReason } from '../errors.js';

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
  /** Absolute file offset, when known (in the file of `level`). */
  offset?: number;
  /** Which file of a differencing chain the problem is in: absent or 0 for the file itself, 1 for its parent, and so on. */
  level?: number;
  /** `warning`: something a caller chose to accept (a parent whose DataWriteGuid changed, with `ignoreLinkage`); `ok` stays true. */
  severity?: 'warning';
}

const reported = new WeakSet<VhdxError>();

/**
 * Records every problem a step found in `problems`, in file order, and
 * returns the first as the error to throw; `check()` knows it is listed.
 */
export function reportAll(problems: Problem[], errors: VhdxError[]): VhdxError {
  for (const e of errors) {
    problems.push(problemOf(e));
    reported.add(e);
  }
  return errors[0]!;
}

/** True when `err` is already among the problems a step recorded. */
export function wasReported(err: VhdxError): boolean {
  return reported.has(err);
}

/** The problem a thrown error describes. */
export function problemOf(err: VhdxError): Problem {
  const p: Problem = { code: err.code, reason: err.reason, message: err.message };
  if (err.structure !== undefined) p.structure = err.structure;
  if (err.offset !== undefined) p.offset = err.offset;
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
  /** `clean`: nothing to replay; `dirty`: the log was replayed in memory. */
  state: 'clean' | 'dirty';
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
   * `mismatch` (accepted anyway with `ignoreLinkage`), `missing` (not found, opened with
   * `allowMissingParent`), `none` (not a differencing file).
   */
  parentLinkage: 'ok' | 'mismatch' | 'missing' | 'none';
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
