// raw -> VHDX as a TransformStream, in one pass. Everything before the
// payload (headers, metadata, BAT) is known from the options, so it goes out
// first; payload chunks then pass through untouched.
import { VhdxError } from '../errors.js';
import type { AllocationMap } from '../sources/scan.js';
import { resolveCreateOptions, type VhdxCreateOptions } from '../layout/options.js';
import { buildPrefix, planLayout, sequentialOffsets, type Layout } from '../layout/plan.js';
import { isAllZero } from '../wasm/kernels.js';
import { ready } from '../wasm/instance.js';
import { TransformStreamImpl, asBytes, byteStrategy } from '../runtime/web-streams.js';

/** Options of {@link VhdxEncoderStream}. */
export interface VhdxEncoderOptions extends VhdxCreateOptions {
  /**
   * Which blocks hold data (from {@link scanAllocation}). With a map, a
   * dynamic disk leaves all-zero blocks out; without one, every block is
   * stored. `virtualSize` and `blockSize` default to the map's.
   */
  allocationMap?: AllocationMap;
}

/** Shape of the file the encoder will produce. */
export interface EncoderLayoutInfo {
  virtualSize: number;
  blockSize: number;
  blockCount: number;
  /** Blocks stored in the file. */
  presentBlocks: number;
  /** File offset of the first payload block. */
  payloadOffset: number;
}

/**
 * Converts a raw disk stream into a VHDX stream, like `CompressionStream`:
 *
 * ```ts
 * const res = await fetch(url);
 * const vhdx = res.body!.pipeThrough(new VhdxEncoderStream({ virtualSize: Number(res.headers.get('content-length')) }));
 * ```
 *
 * The output length is known up front ({@link VhdxEncoderStream.outputSize}).
 * Input longer than `virtualSize` errors the stream; input that ends early
 * errors it with `TRUNCATED` (a short download never becomes a padded disk).
 */
export class VhdxEncoderStream implements GenericTransformStream {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Exact number of bytes the readable side will produce. */
  readonly outputSize: number;
  /** The planned layout. */
  readonly layout: EncoderLayoutInfo;

  constructor(options: VhdxEncoderOptions) {
    const plan = planEncoder(options);
    this.outputSize = plan.outputSize;
    this.layout = plan.info;
    const stream = new TransformStreamImpl<Uint8Array, Uint8Array>(encoderTransformer(plan.layout, plan.present), byteStrategy(), byteStrategy());
    this.readable = stream.readable;
    this.writable = stream.writable;
  }
}

/** What an encoder will produce, checked against its options. */
export interface EncoderPlan {
  layout: Layout;
  /** Per block: stored (1) or left out (0); undefined when every block is stored. */
  present: Uint8Array | undefined;
  outputSize: number;
  info: EncoderLayoutInfo;
}

/** Resolves and checks encoder options (throws VhdxError INVALID_ARGUMENT). */
export function planEncoder(options: VhdxEncoderOptions): EncoderPlan {
  const map = options?.allocationMap;
  const merged: VhdxCreateOptions = map
    ? { ...options, virtualSize: options.virtualSize ?? map.virtualSize, blockSize: options.blockSize ?? map.blockSize }
    : options;
  const opts = resolveCreateOptions(merged, true);
  const virtualSize = opts.virtualSize!;
  const layout = planLayout(opts, virtualSize);
  const present = map ? checkMap(map, layout) : undefined;
  if (present && opts.type === 'fixed') {
    throw new VhdxError('INVALID_ARGUMENT', 'a fixed disk stores every block; allocationMap applies to dynamic disks', {
      structure: 'options',
      field: 'allocationMap',
    });
  }
  let presentBlocks = layout.blockCount;
  if (present) presentBlocks = present.reduce((n, p) => n + (p ? 1 : 0), 0);
  return {
    layout,
    present,
    outputSize: layout.payloadOffset + presentBlocks * layout.blockSize,
    info: { virtualSize, blockSize: layout.blockSize, blockCount: layout.blockCount, presentBlocks, payloadOffset: layout.payloadOffset },
  };
}

function checkMap(map: AllocationMap, layout: Layout): Uint8Array {
  const where = { structure: 'options', field: 'allocationMap' };
  if (map.blockSize !== layout.blockSize || map.virtualSize !== layout.virtualSize || map.present?.length !== layout.blockCount) {
    throw new VhdxError(
      'INVALID_ARGUMENT',
      `map is for ${map.virtualSize} bytes in ${map.blockSize}-byte blocks; the disk is ${layout.virtualSize} bytes in ${layout.blockSize}-byte blocks`,
      where,
    );
  }
  return map.present;
}

/**
 * The encoder's work as a Transformer: the prefix at start, payload chunks
 * passed through as views (never copied), the last block's padding at flush.
 * Also driven directly by the Node CLI over pooled buffers.
 */
export function encoderTransformer(layout: Layout, present: Uint8Array | undefined): Transformer<Uint8Array, Uint8Array> {
  const { virtualSize, blockSize } = layout;
  let received = 0;
  return {
    async start(controller) {
      await ready();
      const offsets = sequentialOffsets(layout, present ? (b) => present[b] === 1 : undefined);
      controller.enqueue(buildPrefix(layout, offsets));
    },
    transform(chunk, controller) {
      const bytes = asBytes(chunk);
      const len = bytes.length;
      if (len === 0) return;
      if (received + len > virtualSize) {
        throw new VhdxError('INVALID_ARGUMENT', `input is longer than virtualSize (${virtualSize} bytes)`, { offset: virtualSize });
      }
      if (!present) {
        controller.enqueue(bytes);
        received += len;
        return;
      }
      let at = 0;
      while (at < len) {
        const block = Math.floor(received / blockSize);
        const n = Math.min(len - at, (block + 1) * blockSize - received);
        const piece = n === len ? bytes : bytes.subarray(at, at + n);
        if (present[block]) controller.enqueue(piece);
        else if (!isAllZero(piece)) {
          throw new VhdxError('INVALID_ARGUMENT', `block ${block} is all-zero in the allocation map but holds data`, {
            structure: 'input',
            offset: received,
          });
        }
        at += n;
        received += n;
      }
    },
    flush(controller) {
      if (received < virtualSize) {
        throw new VhdxError('TRUNCATED', `input ended after ${received} of ${virtualSize} bytes`, { structure: 'input', offset: received });
      }
      const tail = virtualSize % blockSize;
      const lastStored = !present || present[layout.blockCount - 1] === 1;
      if (tail !== 0 && lastStored) controller.enqueue(new Uint8Array(blockSize - tail));
    },
  };
}
