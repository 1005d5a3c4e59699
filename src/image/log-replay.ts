// Replaying a dirty log into an in-memory overlay, never into the file.
//
// The log is a circular buffer of entries. The active sequence is found from
// its head (the valid entry with the highest sequence number whose tail leads,
// in circular order and through consecutive sequence numbers, back to it).
// Its writes are applied tail to head into an overlay of zeroed intervals and
// rebuilt 4 KiB sectors (overlay.ts), which every later read of the file goes
// through.
import { VhdxError } from '../errors.js';
import { hex } from '../format/bytes.js';
import type { Header } from '../format/header.js';
import {
  DESCRIPTOR_SIZE,
  LOG_ENTRY_HEADER_SIZE,
  LOG_SECTOR,
  descriptorSectors,
  hasLogEntrySignature,
  logEntryChecksum,
  parseDescriptor,
  parseLogEntryHeader,
  type LogDescriptor,
  type LogEntryHeader,
} from '../format/log.js';
import { sameGuid } from '../format/guid.js';
import { HEADER_SECTION_SIZE } from '../format/region-table.js';
import { reassembleLogEntry } from '../wasm/kernels.js';
import { checkLimit, type ResolvedLimits } from './limits.js';
import { readExact, type ByteReader } from './reader.js';
import { emptyOverlay, type LogOverlay } from './overlay.js';
import type { Problem } from './types.js';

interface ValidEntry {
  offset: number;
  header: LogEntryHeader;
  bytes: Uint8Array;
}

/** Entry bytes starting at `offset`, read circularly from the log. */
function entryBytes(log: Uint8Array, offset: number, length: number): Uint8Array {
  if (offset + length <= log.length) return log.subarray(offset, offset + length);
  const out = new Uint8Array(length);
  const first = log.length - offset;
  out.set(log.subarray(offset), 0);
  out.set(log.subarray(0, length - first), first);
  return out;
}

/**
 * Validates the entry at `offset`; returns it, a reason it is invalid, or
 * undefined for an entry of an earlier log (another LogGuid). Those are in
 * every log that was ever reused and are not damage: the LogGuid is exactly
 * what keeps them out of replay (MS-VHDX 2.3.2), whatever else they hold.
 */
function validateEntry(log: Uint8Array, offset: number, logGuid: string, logFileOffset: number): ValidEntry | string | undefined {
  const h = parseLogEntryHeader(log.subarray(offset, offset + LOG_ENTRY_HEADER_SIZE), logFileOffset + offset);
  if (!sameGuid(h.logGuid, logGuid)) return undefined;
  if (h.entryLength === 0 || h.entryLength % LOG_SECTOR !== 0 || h.entryLength > log.length)
    return `entry length ${h.entryLength} is not a 4 KiB multiple within the log`;
  if (h.sequenceNumber === 0n) return 'sequence number is zero';
  if (h.tail % LOG_SECTOR !== 0 || h.tail >= log.length) return `tail ${h.tail} is not a 4 KiB-aligned offset in the log`;
  const descSectors = descriptorSectors(h.descriptorCount);
  if (descSectors * LOG_SECTOR > h.entryLength) return `${h.descriptorCount} descriptors do not fit in ${h.entryLength} bytes`;
  const bytes = entryBytes(log, offset, h.entryLength);
  if (logEntryChecksum(bytes) !== h.checksum) return 'checksum mismatch';
  return { offset, header: h, bytes };
}

/** Finds the active sequence: tail to head, or undefined when there is none. */
function activeSequence(valid: Map<number, ValidEntry>, logLength: number): ValidEntry[] | undefined {
  const heads = [...valid.values()].sort((a, b) => (b.header.sequenceNumber > a.header.sequenceNumber ? 1 : -1));
  for (const head of heads) {
    const chain: ValidEntry[] = [];
    let e = valid.get(head.header.tail);
    while (e && chain.length <= valid.size) {
      const prev = chain[chain.length - 1];
      if (prev && e.header.sequenceNumber !== prev.header.sequenceNumber + 1n) break;
      chain.push(e);
      if (e === head) return chain;
      e = valid.get((e.offset + e.header.entryLength) % logLength);
    }
  }
  return undefined;
}

function insertZeros(o: LogOverlay, start: number, end: number): void {
  const merged: { start: number; end: number }[] = [];
  let placed = false;
  for (const z of o.zeros) {
    if (z.end < start || z.start > end) {
      if (!placed && z.start > end) {
        merged.push({ start, end });
        placed = true;
      }
      merged.push(z);
    } else {
      start = Math.min(start, z.start);
      end = Math.max(end, z.end);
    }
  }
  if (!placed) merged.push({ start, end });
  o.zeros = merged;
  // a zero range written after a sector replaces it
  for (const off of [...o.sectors.keys()]) if (off >= start && off < end) o.sectors.delete(off);
}

/**
 * Reads and replays the log of a dirty image. Invalid entries outside the
 * active sequence are reported as problems and skipped. Returns undefined when
 * the log holds no entry of the header's LogGuid at all (a writer stopped
 * before its first log write landed): nothing to replay, reported as a warning
 * (`log-active-empty`), since every reader reads such a file as it stands.
 */
export async function replayLog(
  r: ByteReader,
  header: Header,
  limits: ResolvedLimits,
  problems: Problem[],
): Promise<LogOverlay | undefined> {
  const { logOffset, logLength, logGuid } = header;
  checkLimit('log-over-limit', logLength, limits, logOffset);
  const log = await readExact(r, logOffset, logLength, 'log');
  const valid = new Map<number, ValidEntry>();
  let ours = 0;
  for (let off = 0; off < logLength; off += LOG_SECTOR) {
    if (!hasLogEntrySignature(log.subarray(off, off + 4))) continue;
    const got = validateEntry(log, off, logGuid, logOffset);
    if (got === undefined) continue;
    ours++;
    if (typeof got === 'string') {
      problems.push({
        code: 'CORRUPT',
        reason: 'log-entry-skipped',
        message: `log entry skipped: ${got}`,
        structure: 'log entry',
        offset: logOffset + off,
      });
    } else valid.set(off, got);
  }
  if (ours === 0) {
    problems.push({
      code: 'CORRUPT',
      reason: 'log-active-empty',
      message: `the header names an active log (LogGuid ${logGuid}) that holds no entry of it: nothing to replay`,
      structure: 'log',
      offset: logOffset,
      severity: 'warning',
    });
    return undefined;
  }
  const overlay = emptyOverlay();
  const chain = activeSequence(valid, logLength);
  if (!chain) {
    problems.push({
      code: 'CORRUPT',
      reason: 'log-no-sequence',
      message: 'the log is marked dirty but holds no valid sequence; nothing was replayed',
      structure: 'log',
      offset: logOffset,
    });
    return overlay;
  }
  const head = chain[chain.length - 1]!.header;
  overlay.flushedFileOffset = head.flushedFileOffset;
  overlay.lastFileOffset = head.lastFileOffset;
  if (r.size !== undefined && r.size < head.flushedFileOffset) {
    throw new VhdxError(
      'log-flushed-past-eof',
      `the file is ${r.size} bytes but the log says ${head.flushedFileOffset} were flushed: data was lost`,
      {
        structure: 'log entry',
        field: 'flushed_file_offset',
        offset: logOffset + chain[chain.length - 1]!.offset + 48,
      },
    );
  }
  const forbidden = (start: number, end: number) => start < HEADER_SECTION_SIZE || (start < logOffset + logLength && end > logOffset);
  for (const e of chain) {
    const at = logOffset + e.offset;
    const seq = e.header.sequenceNumber;
    const descs: (LogDescriptor | undefined)[] = [];
    let dataCount = 0;
    for (let i = 0; i < e.header.descriptorCount; i++) {
      const d = parseDescriptor(e.bytes, LOG_ENTRY_HEADER_SIZE + i * DESCRIPTOR_SIZE);
      if (d?.kind === 'data') dataCount++;
      descs.push(d);
    }
    if ((descriptorSectors(e.header.descriptorCount) + dataCount) * LOG_SECTOR > e.header.entryLength) {
      throw new VhdxError('log-data-overflow', `${dataCount} data sectors do not fit in the entry`, { structure: 'log entry', offset: at });
    }
    const rebuilt = reassembleLogEntry(
      e.bytes,
      e.header.descriptorCount,
      descriptorSectors(e.header.descriptorCount) * LOG_SECTOR,
      Number(seq & 0xffffffffn),
      Number(seq >> 32n),
      dataCount,
    );
    if (!rebuilt.ok) {
      throw new VhdxError('log-descriptor-invalid', `descriptor ${rebuilt.descriptor}: ${rebuilt.reason}`, {
        structure: 'log entry',
        offset: at + LOG_ENTRY_HEADER_SIZE + rebuilt.descriptor * DESCRIPTOR_SIZE,
      });
    }
    let dataIndex = 0;
    descs.forEach((d, i) => {
      if (!d) return;
      const end = d.kind === 'data' ? d.fileOffset + LOG_SECTOR : d.fileOffset + d.length;
      if (forbidden(d.fileOffset, end)) {
        throw new VhdxError('log-descriptor-target', `descriptor ${i} targets ${hex(d.fileOffset)}, inside the header section or the log`, {
          structure: 'log entry',
          offset: at + LOG_ENTRY_HEADER_SIZE + i * DESCRIPTOR_SIZE,
        });
      }
      if (d.kind === 'zero') {
        insertZeros(overlay, d.fileOffset, end);
        overlay.sectorsReplayed += d.length / LOG_SECTOR;
      } else {
        overlay.sectors.set(d.fileOffset, rebuilt.sectors.subarray(dataIndex * LOG_SECTOR, (dataIndex + 1) * LOG_SECTOR));
        dataIndex++;
        overlay.sectorsReplayed++;
      }
    });
    overlay.entriesReplayed++;
  }
  overlay.sectorOffsets = [...overlay.sectors.keys()].sort((a, b) => a - b);
  return overlay;
}
