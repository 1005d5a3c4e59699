// The random-access reader: openVhdx() over any source.
import { VhdxError, asVhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { openSource, type HttpSourceOptions } from '../sources/index.js';
import type { RandomAccessSource, SourceInput } from '../sources/types.js';
import { ReadableStreamImpl, byteStrategy } from '../runtime/web-streams.js';
import { ready } from '../wasm/instance.js';
import { resolveLimits, type ReadLimits } from './limits.js';
import { resolveExtents } from './extents.js';
import { loadImage, type ImageModel } from './load.js';
import { overlayReader } from './overlay.js';
import type { ByteReader } from './reader.js';
import { problemOf, wasReported, type Extent, type Problem, type VhdxInfo } from './types.js';

/** Options of {@link openVhdx}. */
export interface OpenVhdxOptions extends ReadLimits, HttpSourceOptions {
  /** Largest single read `stream()` issues (default 4 MiB). */
  chunkSize?: number;
  /** Bytes `stream()` reads ahead of its consumer (default 16 MiB). */
  readAhead?: number;
}

/** The result of {@link VhdxImage.check}. */
export interface CheckReport {
  /** True when nothing is wrong. */
  ok: boolean;
  problems: Problem[];
}

/** A byte range of the virtual disk: `[start, end)`. */
export interface VirtualRange {
  start?: number;
  end?: number;
}

/**
 * An open VHDX file, read at random offsets; made by {@link openVhdx}.
 * A dirty log has been replayed in memory: every read sees the disk as the
 * log leaves it, and the file is never written.
 * @throws VhdxError from `read` and `stream`: `INVALID_ARGUMENT`
 *   (`range-outside-disk`), `UNSUPPORTED` (`differencing-unsupported`),
 *   `TRUNCATED` (`payload-truncated`), `IO` (`read-failed`).
 */
export class VhdxImage {
  /** What the file is. */
  readonly info: VhdxInfo;
  private readonly zeros: Uint8Array;
  /** File reads as the replayed log leaves them (the source itself when clean). */
  private readonly file: ByteReader;

  /** @internal use {@link openVhdx} */
  constructor(
    private readonly source: RandomAccessSource,
    private readonly model: ImageModel,
    private readonly options: OpenVhdxOptions,
  ) {
    this.info = model.info;
    this.file = overlayReader(source, model.overlay);
    this.zeros = new Uint8Array(Math.min(options.chunkSize ?? 4 * MiB, model.virtualSize));
  }

  private assertReadable(): void {
    if (this.model.info.type === 'differencing') {
      throw new VhdxError('differencing-unsupported', 'differencing disks need their parent chain, which is not supported yet', { structure: 'metadata item', field: 'parent_locator' });
    }
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.model.virtualSize) {
      throw new VhdxError('range-outside-disk', `range [${offset}, +${length}) is outside the ${this.model.virtualSize}-byte disk`);
    }
  }

  /** Where the bytes of `[start, end)` come from: file data, zeros, or unmapped (reads as zeros). */
  extents(range: VirtualRange = {}): Extent[] {
    const start = range.start ?? 0;
    const end = range.end ?? this.model.virtualSize;
    this.checkRange(start, end - start);
    return resolveExtents(this.model, start, end);
  }

  /** Reads `length` bytes of the virtual disk at `offset`. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.assertReadable();
    this.checkRange(offset, length);
    return this.readExtents(offset, length, resolveExtents(this.model, offset, offset + length));
  }

  /** Reads `[offset, offset + length)` given its already resolved extents. */
  private async readExtents(offset: number, length: number, extents: Extent[]): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (const e of extents) {
      if (e.kind !== 'data') continue;
      const target = out.subarray(e.offset - offset, e.offset - offset + e.length);
      await this.readData(e.fileOffset, target);
    }
    return out;
  }

  /**
   * Reads file bytes at `fileOffset` into `target` as the replayed log leaves
   * them (for callers that map extents themselves, like the Node file path).
   */
  async readFileRange(fileOffset: number, target: Uint8Array): Promise<void> {
    await this.readData(fileOffset, target);
  }

  private async readData(fileOffset: number, target: Uint8Array): Promise<void> {
    let n: number;
    try {
      if (this.file.readInto) n = await this.file.readInto(target, fileOffset);
      else {
        const got = await this.file.read(fileOffset, target.length);
        target.set(got.subarray(0, target.length));
        n = got.length;
      }
    } catch (err) {
      throw asVhdxError(err, 'read-failed', `reading payload at file offset ${fileOffset}`);
    }
    if (n < target.length) throw new VhdxError('payload-truncated', `payload at ${fileOffset} cut short after ${n} bytes`, { offset: fileOffset + n });
  }

  /**
   * The raw disk (or `[start, end)` of it) as a stream in virtual order.
   * Zero stretches are emitted as views of one shared zero buffer: treat
   * chunks as read-only.
   */
  stream(range: VirtualRange = {}): ReadableStream<Uint8Array> {
    this.assertReadable();
    const start = range.start ?? 0;
    const end = range.end ?? this.model.virtualSize;
    this.checkRange(start, end - start);
    const chunk = this.zeros.length;
    let pos = start;
    return new ReadableStreamImpl<Uint8Array>(
      {
        pull: async (controller) => {
          if (pos >= end) {
            controller.close();
            return;
          }
          const stop = Math.min(end, pos + chunk);
          const extents = resolveExtents(this.model, pos, stop);
          const only = extents.length === 1 ? extents[0]! : undefined;
          if (only && only.kind !== 'data') controller.enqueue(this.zeros.subarray(0, stop - pos));
          else controller.enqueue(await this.readExtents(pos, stop - pos, extents));
          pos = stop;
        },
      },
      byteStrategy(this.options.readAhead ?? 16 * MiB),
    );
  }

  /** Every problem found while opening and checking the file. */
  async check(): Promise<CheckReport> {
    const problems = [...this.model.problems];
    return { ok: problems.length === 0, problems };
  }

  /** Releases the source (file handles). */
  async close(): Promise<void> {
    await this.source.close?.();
  }
}

/**
 * Opens a VHDX for random access from a source you already opened; the image
 * owns it from then on (closed by {@link VhdxImage.close}, or at once when
 * opening fails).
 */
export async function openVhdxSource(source: RandomAccessSource, options: OpenVhdxOptions = {}): Promise<VhdxImage> {
  try {
    await ready();
    const model = await loadImage(source, resolveLimits(options));
    return new VhdxImage(source, model, options);
  } catch (err) {
    await source.close?.();
    throw asVhdxError(err, 'read-failed', 'open failed');
  }
}

/**
 * Opens a VHDX for random access: bytes, a Blob/File, an http(s) URL (Range
 * requests), or any `{ size, read }`. File paths and FileHandles: the same
 * function from `vhdx-stream/node`.
 * @throws VhdxError `NOT_VHDX`, `CORRUPT`, `BAD_CHECKSUM`, `TRUNCATED`,
 *   `UNSUPPORTED` or `LIMIT_EXCEEDED` for a file that cannot be opened (each
 *   with its reason, structure and offset); `INVALID_ARGUMENT`
 *   (`unsupported-source`, `invalid-option`); `IO` when the source fails,
 *   and `UNSUPPORTED` (`range-not-supported`) for a server without Range requests.
 */
export async function openVhdx(input: SourceInput, options: OpenVhdxOptions = {}): Promise<VhdxImage> {
  return openVhdxSource(await openSource(input, options), options);
}

/**
 * Checks a VHDX read from `source` and reports every problem found, without
 * throwing for a damaged file (only for an unreadable source). Closes the source.
 */
export async function checkVhdxSource(source: RandomAccessSource, options: OpenVhdxOptions = {}): Promise<CheckReport & { info?: VhdxInfo }> {
  const problems: Problem[] = [];
  try {
    await ready();
    const model = await loadImage(source, resolveLimits(options), problems);
    const report = await new VhdxImage(source, model, options).check();
    return { ...report, info: model.info };
  } catch (err) {
    const e = asVhdxError(err, 'read-failed', 'check failed');
    if (e.code === 'IO') throw e;
    // a fatal problem comes last: nothing after it was looked at
    if (!wasReported(e)) problems.push(problemOf(e));
    return { ok: false, problems };
  } finally {
    await source.close?.();
  }
}

/**
 * Checks a VHDX and reports every problem found, without throwing for a
 * damaged file. Inputs as for {@link openVhdx}.
 * @throws VhdxError `IO` only, when the source cannot be read; every other
 *   failure is reported as a problem (with its code, reason and offset).
 */
export async function checkVhdx(input: SourceInput, options: OpenVhdxOptions = {}): Promise<CheckReport & { info?: VhdxInfo }> {
  return checkVhdxSource(await openSource(input, options), options);
}
