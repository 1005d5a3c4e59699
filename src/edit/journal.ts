// The file as an editor changes it: every write, size change and flush goes
// through here, with the two things the format orders around them: the
// headers (MS-VHDX 2.2.2) and the log (MS-VHDX 2.3).
//
// Headers: each update writes the next sequence number into the slot that is
// not current, then flushes, so a torn header write leaves the current one.
//
// Log: every metadata change is one entry, written and flushed, then applied
// in place and flushed. An entry is applied before the next one is written,
// so each entry is a sequence of its own (Tail = its own offset): a replay
// never needs more than the newest valid entry, and an entry never straddles
// the end of the log (it starts again at 0 instead). Readers that ignore Tail
// when a sequence wraps (QEMU 7.2) therefore replay what the spec replays. A
// session starts with a new LogGuid: its first entry is written and flushed
// before the header naming that LogGuid, so no header ever names a log with
// no valid entry.
import { VhdxError, asVhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { NIL_GUID, isNilGuid, randomGuid } from '../format/guid.js';
import { HEADER_OFFSETS, serializeHeader, type Header } from '../format/header.js';
import { LOG_SECTOR, buildLogEntry, type LogWrite } from '../format/log.js';
import type { RandomAccessFile } from '../sources/types.js';

/** Bytes of zeros written at once when a range is zeroed in place. */
const ZERO_CHUNK = 4 * MiB;

/** The file an editor changes, with its headers and log. */
export class Journal {
  /** Bytes the file holds now (this editor's writes and truncates included). */
  size: number;
  /** Bytes the file held at the last completed flush. */
  private durableSize: number;
  /** Sequence number of the next entry, and where it goes in the log. */
  private sequence = 1n;
  private logPosition = 0;
  /** LogGuid of this editor's session; nil until its first entry. */
  private sessionGuid = NIL_GUID;
  private zeros: Uint8Array | undefined;

  /**
   * @param header the current header
   * @param slot which copy is current (0: header 1, 1: header 2)
   */
  constructor(
    private readonly file: RandomAccessFile,
    public header: Header,
    public slot: 0 | 1,
    size: number,
  ) {
    this.size = size;
    this.durableSize = size;
  }

  /** @throws VhdxError `IO` (`read-failed`) */
  async read(offset: number, length: number): Promise<Uint8Array> {
    let got: Uint8Array;
    try {
      got = await this.file.read(offset, length);
    } catch (err) {
      throw asVhdxError(err, 'read-failed', `reading ${length} bytes at ${offset}`);
    }
    if (got.length >= length) return got.length === length ? got : got.subarray(0, length);
    // past the end of the file: zeros, as a grown file reads
    const out = new Uint8Array(length);
    out.set(got);
    return out;
  }

  /**
   * Reads into `target` (a buffer the caller reuses); bytes past the end of
   * the file read as zeros. Returns `target.length`.
   * @throws VhdxError `IO` (`read-failed`)
   */
  async readInto(target: Uint8Array, offset: number): Promise<number> {
    if (!this.file.readInto) {
      target.set(await this.read(offset, target.length));
      return target.length;
    }
    let got: number;
    try {
      got = await this.file.readInto(target, offset);
    } catch (err) {
      throw asVhdxError(err, 'read-failed', `reading ${target.length} bytes at ${offset}`);
    }
    if (got < target.length) target.fill(0, got);
    return target.length;
  }

  /** @throws VhdxError `IO` (`write-failed`) */
  async write(data: Uint8Array, position: number): Promise<void> {
    try {
      await this.file.write(data, position);
    } catch (err) {
      throw asVhdxError(err, 'write-failed', `writing ${data.length} bytes at ${position}`);
    }
    this.size = Math.max(this.size, position + data.length);
  }

  /** Writes zeros over `[position, position + length)`. */
  async writeZeros(position: number, length: number): Promise<void> {
    this.zeros ??= new Uint8Array(ZERO_CHUNK);
    for (let at = position, end = position + length; at < end; at += ZERO_CHUNK) {
      await this.write(this.zeros.subarray(0, Math.min(ZERO_CHUNK, end - at)), at);
    }
  }

  /** Grows the file to `size` bytes (zeros); never shrinks it. */
  async grow(size: number): Promise<void> {
    if (size <= this.size) return;
    try {
      await this.file.truncate(size);
    } catch (err) {
      throw asVhdxError(err, 'write-failed', `growing the file to ${size} bytes`);
    }
    this.size = size;
  }

  /**
   * Shrinks the file to `size` (a multiple of 1 MiB past every structure in
   * use). MS-VHDX 2.3.1.1 asks that, before a file shrinks while its log is in
   * use, an entry naming the target size be flushed, so a replay never finds
   * the file shorter than its FlushedFileOffset: `carry` (a 4 KiB sector
   * written with the content it already has) goes in an entry whose
   * FlushedFileOffset and LastFileOffset are `size`; then the file is cut and flushed.
   * That entry starts a session of its own: QEMU 7.2 replays every consecutive
   * entry of the header's LogGuid and refuses to open a file shorter than any
   * one's FlushedFileOffset, so no entry naming the longer file may share it.
   */
  async shrink(size: number, carry: LogWrite): Promise<void> {
    if (size >= this.size) return;
    await this.endSession();
    this.size = size;
    this.durableSize = size;
    await this.commit([carry]);
    try {
      await this.file.truncate(size);
    } catch (err) {
      throw asVhdxError(err, 'write-failed', `shrinking the file to ${size} bytes`);
    }
    await this.flush();
  }

  /** Makes everything written so far durable. */
  async flush(): Promise<void> {
    try {
      await this.file.flush();
    } catch (err) {
      throw asVhdxError(err, 'write-failed', 'flushing the file');
    }
    this.durableSize = this.size;
  }

  /** Writes the next header (sequence number + 1) with `changes` into the slot that is not current, and flushes. */
  async updateHeader(changes: Partial<Omit<Header, 'sequenceNumber'>>): Promise<void> {
    const next: Header = { ...this.header, ...changes, sequenceNumber: this.header.sequenceNumber + 1n };
    const slot = this.slot === 0 ? 1 : 0;
    await this.write(serializeHeader(next), HEADER_OFFSETS[slot]);
    await this.flush();
    this.header = next;
    this.slot = slot;
  }

  /** True when the current header names a log (entries may need replay). */
  get logActive(): boolean {
    return !isNilGuid(this.header.logGuid);
  }

  /**
   * Journals `writes` (whole 4 KiB sectors outside the log and the header
   * section, or zero ranges): entry written and flushed, the header naming
   * the session's LogGuid (first entry only), then applied in place and flushed.
   * @throws VhdxError `INVALID_ARGUMENT` (`value-unencodable`) for an entry longer than the log (a bug).
   */
  async commit(writes: LogWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const { logOffset, logLength } = this.header;
    if (isNilGuid(this.sessionGuid)) {
      this.sessionGuid = randomGuid();
      this.logPosition = 0;
      this.sequence = 1n;
    }
    const place = (at: number, length: number) => (at + length > logLength ? 0 : at);
    // the entry's length does not depend on its fields: build it once to learn it, then in place
    let entry = this.entry(writes, 0);
    const at = place(this.logPosition, entry.length);
    if (entry.length > logLength) {
      throw new VhdxError('value-unencodable', `a log entry of ${entry.length} bytes does not fit the ${logLength}-byte log`, {
        structure: 'log',
      });
    }
    entry = this.entry(writes, at);
    await this.write(entry, logOffset + at);
    await this.flush();
    if (this.header.logGuid !== this.sessionGuid) await this.updateHeader({ logGuid: this.sessionGuid });
    for (const w of writes) {
      if ('data' in w) await this.write(w.data, w.fileOffset);
      else await this.writeZeros(w.fileOffset, w.zeroLength);
    }
    await this.flush();
    this.logPosition = (at + entry.length) % logLength;
    this.sequence++;
  }

  private entry(writes: LogWrite[], at: number): Uint8Array {
    const roundDown = Math.floor(this.durableSize / MiB) * MiB;
    const roundUp = Math.ceil(this.size / MiB) * MiB;
    return buildLogEntry({
      sequenceNumber: this.sequence,
      tail: at,
      logGuid: this.sessionGuid,
      flushedFileOffset: roundDown,
      lastFileOffset: roundUp,
      writes,
    });
  }

  /** Ends the log session: everything is applied and flushed, so the header may say there is nothing to replay. */
  async endSession(): Promise<void> {
    await this.flush();
    if (this.logActive) await this.updateHeader({ logGuid: NIL_GUID });
    this.sessionGuid = NIL_GUID;
  }
}

/** Data sectors an entry holds at most (the rest of a change goes in the next entries). */
export const MAX_ENTRY_SECTORS = 64;
/** The log's unit, re-exported for the editor. */
export { LOG_SECTOR };
