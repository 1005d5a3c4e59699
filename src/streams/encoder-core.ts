// raw -> VHDX as a push-style core, with no stream machinery: the WHATWG
// adapter (encoder.ts) and the Node stdin path both drive it. Everything
// before the payload (headers, metadata, BAT) is known from the options, so
// it goes out first; payload then passes through as views of the input.
import { VhdxError, inputTooLong } from '../errors.js';
import type { AllocationMap } from '../sources/scan.js';
import { resolveCreateOptions, type VhdxCreateOptions } from '../layout/options.js';
import { buildPrefix, planLayout, sequentialOffsets, type Layout } from '../layout/plan.js';
import { isAllZero } from '../wasm/kernels.js';

/** Options of {@link VhdxEncoderStream} and {@link EncoderCore}. */
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

/** What an encoder will produce, checked against its options. */
export interface EncoderPlan {
  layout: Layout;
  /** Per block: stored (1) or left out (0); undefined when every block is stored. */
  present: Uint8Array | undefined;
  outputSize: number;
  info: EncoderLayoutInfo;
}

/**
 * Resolves and checks encoder options.
 * @throws VhdxError INVALID_ARGUMENT: `invalid-option` for a bad option (or a map with a fixed disk),
 *   `map-mismatch` for an allocation map made for another disk size or block size.
 */
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
    throw new VhdxError('invalid-option', 'a fixed disk stores every block; allocationMap applies to dynamic disks', {
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
  if (map.blockSize !== layout.blockSize || map.virtualSize !== layout.virtualSize || map.present?.length !== layout.blockCount) {
    throw new VhdxError(
      'map-mismatch',
      `map is for ${map.virtualSize} bytes in ${map.blockSize}-byte blocks; ` +
        `the disk is ${layout.virtualSize} bytes in ${layout.blockSize}-byte blocks`,
      { structure: 'options', field: 'allocationMap' },
    );
  }
  return map.present;
}

/**
 * The encoder's work, push-style (as fflate's `Deflate` sits under its
 * stream wrappers): raw bytes go in with {@link push}, VHDX bytes come out
 * through the `emit` callback in file order. The prefix (header section,
 * metadata, BAT) comes first; payload is emitted as views of the pushed
 * chunks, never copied, so a caller that reuses its buffers must be done
 * with the emitted pieces before overwriting them; the last block's padding
 * comes at {@link finish}.
 *
 * The WebAssembly kernels must be ready (`await ready()` or `init()`) before
 * the first {@link start}, {@link push} or {@link finish}.
 */
export class EncoderCore {
  /** The checked options: layout, stored blocks, exact output size. */
  readonly plan: EncoderPlan;
  private received = 0;
  private started = false;

  /**
   * @param emit receives each output piece, in order
   * @throws VhdxError INVALID_ARGUMENT (`invalid-option`, `map-mismatch`) for bad options, before any byte flows
   */
  constructor(
    options: VhdxEncoderOptions,
    private readonly emit: (piece: Uint8Array) => void,
  ) {
    this.plan = planEncoder(options);
  }

  /** Emits the prefix, once; push() and finish() call it when it has not run. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const { layout, present } = this.plan;
    this.emit(buildPrefix(layout, sequentialOffsets(layout, present ? (b) => present[b] === 1 : undefined)));
  }

  /**
   * Takes the next raw bytes. Stored blocks' bytes are emitted as views
   * (the whole chunk when it lies in stored blocks only); bytes of blocks
   * the allocation map leaves out are checked to be zero and dropped.
   * @throws VhdxError INVALID_ARGUMENT `input-too-long` past virtualSize;
   *   `map-contradicts-input` when a block the map calls all-zero holds data
   */
  push(chunk: Uint8Array): void {
    this.start();
    const len = chunk.length;
    if (len === 0) return;
    const { virtualSize, blockSize } = this.plan.layout;
    if (this.received + len > virtualSize) {
      throw inputTooLong('the input', 'virtualSize', virtualSize);
    }
    const present = this.plan.present;
    if (!present) {
      this.emit(chunk);
      this.received += len;
      return;
    }
    let runFrom = -1; // start in `chunk` of stored bytes not yet emitted
    for (let at = 0; at < len; ) {
      const block = Math.floor(this.received / blockSize);
      const n = Math.min(len - at, (block + 1) * blockSize - this.received);
      if (present[block]) {
        if (runFrom < 0) runFrom = at;
      } else {
        if (runFrom >= 0) this.emit(chunk.subarray(runFrom, at));
        runFrom = -1;
        if (!isAllZero(n === len ? chunk : chunk.subarray(at, at + n))) {
          throw new VhdxError('map-contradicts-input', `block ${block} is all-zero in the allocation map but holds data`, {
            structure: 'input',
            offset: this.received,
          });
        }
      }
      at += n;
      this.received += n;
    }
    if (runFrom >= 0) this.emit(runFrom === 0 ? chunk : chunk.subarray(runFrom));
  }

  /**
   * Ends the input: emits the last block's padding when that block is stored.
   * @throws VhdxError TRUNCATED `input-truncated` when fewer than virtualSize bytes were pushed
   */
  finish(): void {
    this.start();
    const { layout, present } = this.plan;
    const { virtualSize, blockSize } = layout;
    if (this.received < virtualSize) {
      throw new VhdxError('input-truncated', `input ended after ${this.received} of ${virtualSize} bytes`, {
        structure: 'input',
        offset: this.received,
      });
    }
    const tail = virtualSize % blockSize;
    const lastStored = !present || present[layout.blockCount - 1] === 1;
    if (tail !== 0 && lastStored) this.emit(new Uint8Array(blockSize - tail));
  }
}
