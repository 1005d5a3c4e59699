// raw -> sparse dynamic VHDX (or a child of a parent) for targets that accept
// positional writes, through the placement engine of layout/sparse.ts: blocks
// are placed as their first non-zero byte arrives, after the structures;
// headers, metadata and BAT are written at the end, so an interrupted run
// never leaves a file that parses as a valid VHDX.
import { VhdxError, asVhdxError } from '../errors.js';
import { HEADER_AREA_END } from '../format/region-table.js';
import { resolveCreateOptions, type ResolvedCreateOptions, type VhdxCreateOptions } from '../layout/options.js';
import type { Placed } from '../layout/plan.js';
import { HOLE_GRAIN, SparseAllocator, checkBatReserve, type SparseSummary } from '../layout/sparse.js';
import { ready } from '../wasm/instance.js';
import { openTarget, type TargetInput } from '../sources/targets.js';
import type { WritableFile } from '../sources/types.js';
import { WritableStreamImpl, asBytes, byteStrategy } from '../runtime/web-streams.js';
import { WriteBatch } from './write-batch.js';
import { VhdxImage } from '../image/image.js';
import { ChildBlockWriter, childOptionsOf, type ChildBlockCounts, type ChildWriterOptions } from './child-writer.js';

/**
 * Options of {@link VhdxWriterStream}: as for creation, but `virtualSize` may be omitted; with `parent`,
 * a differencing disk (a child of that image) holding only what the input changes.
 */
export type VhdxWriterOptions = Omit<VhdxCreateOptions, 'type'> &
  ChildWriterOptions & {
    /**
     * With `virtualSize` omitted: the largest disk whose BAT has room before the payload (default
     * 2 TiB; at 8 MiB blocks that room is 3 MiB, a hole until written), so that the file decodes
     * as a stream with VhdxDecoderStream's default memory bound. A larger input puts its BAT after
     * the payload. Ignored when the size is known.
     */
    batReserve?: number;
  };

/** What the writer wrote; `differencing` says how a child's blocks were stored. */
export type VhdxWriteSummary = SparseSummary & { differencing?: ChildBlockCounts };
export type { ChildBlockCounts } from './child-writer.js';

/** Closes `target` after a failure: discarded when it can be, else closed; errors are not reported over the first. */
async function giveUp(target: WritableFile | undefined): Promise<void> {
  if (!target) return;
  await (target.discard ? target.discard() : target.close()).catch(() => {});
}

/**
 * Makes whatever was in the target before unrecognisable, so a run that
 * fails part-way never leaves an older valid VHDX behind.
 */
export async function invalidateTarget(target: WritableFile): Promise<void> {
  if (target.truncate) await target.truncate(0);
  else await target.write(new Uint8Array(HEADER_AREA_END), 0);
}

/** Places the input and produces the rest of the file: a plain sparse disk or a child. */
interface WriteEngine {
  write(bytes: Uint8Array): Promise<void>;
  finish(): Promise<{ writes: Placed[]; summary: VhdxWriteSummary }>;
}

function sparseEngine(opts: ResolvedCreateOptions, holesAreZero: boolean, batReserve: number, batch: WriteBatch): WriteEngine {
  const allocator = new SparseAllocator(opts, holesAreZero, batReserve);
  // where holes read as zeros, zero grains inside stored blocks are left out
  // too (as the Node file paths leave them); else a piece runs to its block's end
  const grain = holesAreZero ? HOLE_GRAIN : opts.blockSize;
  return {
    async write(bytes) {
      for (const run of allocator.placeChunk(bytes, grain)) await batch.add(run.data, run.position);
    },
    async finish() {
      await batch.flush();
      return allocator.finish();
    },
  };
}

function childEngine(opts: ResolvedCreateOptions, child: ReturnType<typeof childOptionsOf>, batch: WriteBatch): WriteEngine {
  const writer = new ChildBlockWriter(opts, child.parent, child.link, batch);
  return {
    write: (bytes) => writer.write(bytes),
    async finish() {
      await batch.flush();
      return writer.finish();
    },
  };
}

/**
 * A WritableStream that writes a sparse dynamic VHDX to a seekable target:
 *
 * ```ts
 * const sink = new VhdxWriterStream('disk.vhdx');
 * await (await fetch(url)).body!.pipeTo(sink);
 * console.log(await sink.result); // { virtualSize, fileSize, blocksWritten, ... }
 * ```
 *
 * With `virtualSize` omitted the disk is as large as the input, rounded up to
 * the logical sector size; with it given, shorter input is an error.
 * @throws VhdxError from the constructor: `INVALID_ARGUMENT` (`invalid-option`).
 *   The stream (and `result`) errors with `INVALID_ARGUMENT` (`unsupported-target`,
 *   `input-too-long`, `input-empty`, `input-over-64-tib`), `TRUNCATED`
 *   (`input-truncated`) or `IO` (`write-failed`).
 */
export class VhdxWriterStream extends WritableStreamImpl<Uint8Array> {
  /** Settles when the file is complete (or rejects with the stream's error). */
  readonly result: Promise<VhdxWriteSummary>;

  /** @param target where the file goes (the Node entry's class also takes a path or FileHandle) */
  constructor(target: TargetInput, options?: VhdxWriterOptions);
  /** @internal `open` opens the target: the Node entry's subclass opens paths and FileHandles */
  constructor(target: TargetInput, options: VhdxWriterOptions, open: (target: TargetInput) => Promise<WritableFile>);
  constructor(target: TargetInput, options: VhdxWriterOptions = {}, open: (target: TargetInput) => Promise<WritableFile> = openTarget) {
    const child = options.parent !== undefined ? childOptionsOf(options, (x) => x instanceof VhdxImage) : undefined;
    const { parent: _parent, parentRelativePath: _path, batReserve: reserve, ...plain } = options;
    const batReserve = checkBatReserve(reserve);
    const opts = resolveCreateOptions({ ...(child?.create ?? plain), type: 'dynamic' }, false);
    let settle!: { resolve(s: VhdxWriteSummary): void; reject(e: unknown): void };
    const result = new Promise<VhdxWriteSummary>((resolve, reject) => (settle = { resolve, reject }));
    result.catch(() => {}); // callers may ignore it; the stream reports the error too
    let out: WritableFile | undefined;
    let engine: WriteEngine;
    const fail = async (err: unknown): Promise<never> => {
      const e = asVhdxError(err, 'write-failed', 'write failed');
      settle.reject(e);
      await giveUp(out);
      out = undefined; // given up once
      throw e;
    };
    super(
      {
        async start() {
          try {
            await ready();
            out = await open(target);
            await invalidateTarget(out);
            const opened = out;
            const batch = new WriteBatch((data, position) => opened.write(data, position), undefined, opened.concurrentWrites === true);
            // after truncate(0) unwritten ranges read as zeros; otherwise write them
            engine = child ? childEngine(opts, child, batch) : sparseEngine(opts, out.truncate !== undefined, batReserve, batch);
          } catch (err) {
            await fail(err);
          }
        },
        async write(chunk) {
          try {
            await engine.write(asBytes(chunk));
          } catch (err) {
            await fail(err);
          }
        },
        async close() {
          try {
            const { writes, summary } = await engine.finish();
            for (const w of writes) await out!.write(w.data, w.position);
            if (out!.truncate) await out!.truncate(summary.fileSize);
            await out!.close();
            settle.resolve(summary);
          } catch (err) {
            await fail(err);
          }
        },
        async abort(reason) {
          settle.reject(reason instanceof VhdxError ? reason : asVhdxError(reason, 'cancelled', 'aborted'));
          await giveUp(out);
          out = undefined;
        },
      },
      byteStrategy(),
    );
    this.result = result;
  }
}
