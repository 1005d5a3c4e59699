// Writes spec-conformant log entries into a copy of a clean image, and the
// test's own expectation: the same writes applied straight to the file.
import { dataView } from '../../src/format/bytes.js';
import { HEADER_OFFSETS, parseHeader, serializeHeader } from '../../src/format/header.js';
import { NIL_GUID } from '../../src/format/guid.js';
import { buildLogEntry, type LogWrite } from '../../src/format/log.js';

export const LOG_GUID = '5a5a5a5a-1234-4abc-8def-0123456789ab';

export interface EntrySpec {
  sequenceNumber: bigint;
  /** Where the entry sits in the log (bytes from the log's start). */
  at: number;
  /** Log offset of its sequence's first entry. */
  tail: number;
  writes: LogWrite[];
  flushedFileOffset: number;
  lastFileOffset: number;
  /** Damage the checksum (a torn write). */
  torn?: boolean;
  /** Written by an earlier log (another LogGuid): never part of this log's sequence. */
  logGuid?: string;
}

function currentHeader(file: Uint8Array) {
  const h1 = parseHeader(file.subarray(HEADER_OFFSETS[0], HEADER_OFFSETS[0] + 4096), HEADER_OFFSETS[0]);
  const h2 = parseHeader(file.subarray(HEADER_OFFSETS[1], HEADER_OFFSETS[1] + 4096), HEADER_OFFSETS[1]);
  return h2.sequenceNumber >= h1.sequenceNumber ? h2 : h1;
}

function setLogGuid(file: Uint8Array, logGuid: string): void {
  const h = currentHeader(file);
  file.set(serializeHeader({ ...h, logGuid, sequenceNumber: h.sequenceNumber + 1n }), HEADER_OFFSETS[0]);
  file.set(serializeHeader({ ...h, logGuid, sequenceNumber: h.sequenceNumber + 2n }), HEADER_OFFSETS[1]);
}

/** The log region of a file, from its current header. */
export function logRegion(file: Uint8Array): { offset: number; length: number } {
  const h = currentHeader(file);
  return { offset: h.logOffset, length: h.logLength };
}

/**
 * A dirty copy of `clean` (grown to `size` bytes if given, with `appended`
 * placed at the given offsets, e.g. a newly allocated block's data).
 */
export function makeDirty(
  clean: Uint8Array,
  entries: EntrySpec[],
  extra: { size?: number; appended?: { offset: number; data: Uint8Array }[] } = {},
): Uint8Array {
  const file = new Uint8Array(Math.max(clean.length, extra.size ?? 0));
  file.set(clean);
  for (const a of extra.appended ?? []) file.set(a.data, a.offset);
  const log = logRegion(file);
  setLogGuid(file, LOG_GUID);
  for (const e of entries) {
    const bytes = buildLogEntry({ ...e, logGuid: e.logGuid ?? LOG_GUID });
    if (e.torn) bytes[4] = bytes[4]! ^ 0xff;
    for (let i = 0; i < bytes.length; i++) file[log.offset + ((e.at + i) % log.length)] = bytes[i]!;
  }
  return file;
}

/** The test's own reference: the active entries' writes applied to the file, log cleared. */
export function applyDirectly(dirty: Uint8Array, active: EntrySpec[]): Uint8Array {
  const last = active[active.length - 1]!;
  const file = new Uint8Array(Math.max(dirty.length, last.lastFileOffset));
  file.set(dirty);
  for (const e of active) {
    for (const w of e.writes) {
      if ('data' in w) file.set(w.data, w.fileOffset);
      else file.fill(0, w.fileOffset, w.fileOffset + w.zeroLength);
    }
  }
  setLogGuid(file, NIL_GUID);
  return file;
}

/** The 4 KiB file sector holding BAT entry `index`, with that entry set. */
export function batSectorWith(
  file: Uint8Array,
  batOffset: number,
  index: number,
  state: number,
  offsetMiB: number,
): { fileOffset: number; data: Uint8Array } {
  const sectorOffset = batOffset + Math.floor((index * 8) / 4096) * 4096;
  const data = file.slice(sectorOffset, sectorOffset + 4096);
  const dv = dataView(data);
  const at = (index * 8) % 4096;
  dv.setUint32(at, ((offsetMiB % 4096) << 20) | state, true);
  dv.setUint32(at + 4, Math.floor(offsetMiB / 4096), true);
  return { fileOffset: sectorOffset, data };
}

/** Entries of one shape: FlushedFileOffset and LastFileOffset both `fileEnd` unless `extra` says otherwise. */
export function entriesEndingAt(fileEnd: number) {
  return (sequenceNumber: bigint, at: number, tail: number, writes: LogWrite[], extra: Partial<EntrySpec> = {}): EntrySpec => ({
    sequenceNumber,
    at,
    tail,
    writes,
    flushedFileOffset: fileEnd,
    lastFileOffset: fileEnd,
    ...extra,
  });
}
