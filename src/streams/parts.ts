// One VHDX output split into parts that independent workers render: the
// plan fixes everything the one-pass encoder decides up front (options,
// GUIDs, which blocks are stored, so the layout and BAT), as plain JSON; a
// part is then a byte range of that encoder's output, rebuilt from the
// encoder's own prefix and the raw bytes its payload range maps to.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { choosePartSize } from '../layout/multipart.js';
import { buildPrefix, sequentialOffsets } from '../layout/plan.js';
import type { ResolvedCreateOptions } from '../layout/options.js';
import type { AllocationMap } from '../sources/scan.js';
import { uploadS3Part, uploadS3Parts, type S3PartsOptions, type S3UploadResult } from '../sources/s3.js';
import { crc32c } from '../wasm/kernels.js';
import { ready } from '../wasm/instance.js';
import { planEncoder, type EncoderPlan, type VhdxEncoderOptions } from './encoder-core.js';

/** Options of {@link planVhdx}: the encoder's, plus how to cut the output. */
export interface VhdxPlanOptions extends VhdxEncoderOptions {
  /**
   * Bytes per part; every part but the last has exactly this size (as R2
   * requires). From 5 MiB to 5 GiB, at most 10,000 parts. Default: 16 MiB,
   * or the smallest whole MiB that keeps the output within 10,000 parts.
   */
  partSize?: number;
}

/**
 * A whole VHDX output, planned: JSON-serialisable, so one process plans and
 * many render parts of it ({@link renderVhdxPart}). Treat it as opaque.
 */
export interface VhdxPlan {
  kind: 'vhdx-stream/plan';
  version: 1;
  /** The encoder options, resolved: every GUID fixed, so every part agrees. */
  options: Pick<ResolvedCreateOptions, 'type' | 'blockSize' | 'logicalSectorSize' | 'physicalSectorSize' | 'logSize' | 'creator'> & {
    virtualSize: number;
    guids: { fileWrite: string; dataWrite: string; virtualDisk: string };
  };
  /** Stored blocks as [first, end) pairs, flattened; null when every block is stored. */
  storedRuns: number[] | null;
  /** Bytes of the whole VHDX. */
  outputSize: number;
  /** File offset of the first payload block (everything before is structures). */
  payloadOffset: number;
  partSize: number;
  partCount: number;
}

/** One rendered part. */
export interface VhdxPart {
  /** 0-based; S3's part number is `index + 1`. */
  index: number;
  /** Where the part starts in the VHDX. */
  offset: number;
  bytes: Uint8Array;
  /** CRC-32C of `bytes` (for `x-amz-checksum-crc32c`, and {@link combineCrc32c} for the object). */
  crc: number;
}

/** Reads `length` bytes of the raw disk at `offset`; must return exactly that many. */
export type RawReader = (offset: number, length: number) => Promise<Uint8Array>;

export { MULTIPART_LIMITS } from '../layout/multipart.js';

function badPlan(message: string, field: string): VhdxError {
  return new VhdxError('invalid-option', message, { structure: 'options', field });
}

function runsOf(present: Uint8Array): number[] {
  const runs: number[] = [];
  for (let b = 0; b < present.length; b++) {
    if (!present[b]) continue;
    if (runs.length > 0 && runs[runs.length - 1] === b) runs[runs.length - 1] = b + 1;
    else runs.push(b, b + 1);
  }
  return runs;
}

/**
 * Plans a whole VHDX output (exactly what {@link VhdxEncoderStream} would
 * produce with these options) and where its parts begin and end. GUIDs not
 * given are drawn once here and fixed in the plan.
 * @throws VhdxError INVALID_ARGUMENT: `invalid-option` for a bad encoder option or `partSize`
 *   (outside 5 MiB..5 GiB, or more than 10,000 parts), `map-mismatch` for an allocation map of another disk.
 */
export function planVhdx(options: VhdxPlanOptions): VhdxPlan {
  const encoder = planEncoder(options);
  const { layout, present, outputSize } = encoder;
  const o = layout.opts;
  return {
    kind: 'vhdx-stream/plan',
    version: 1,
    options: {
      virtualSize: layout.virtualSize,
      type: o.type,
      blockSize: layout.blockSize,
      logicalSectorSize: o.logicalSectorSize,
      physicalSectorSize: o.physicalSectorSize,
      logSize: o.logSize,
      creator: o.creator,
      guids: { fileWrite: o.fileWriteGuid, dataWrite: o.dataWriteGuid, virtualDisk: o.virtualDiskId },
    },
    storedRuns: present ? runsOf(present) : null,
    outputSize,
    payloadOffset: layout.payloadOffset,
    ...choosePartSize(outputSize, options.partSize),
  };
}

/**
 * Byte range of part `index` in the output.
 * @throws VhdxError INVALID_ARGUMENT (`invalid-option`) when `index` is not a part of the plan.
 */
export function vhdxPartRange(plan: VhdxPlan, index: number): { offset: number; length: number } {
  if (!Number.isSafeInteger(index) || index < 0 || index >= plan.partCount) {
    throw badPlan(`must be a part of the plan (0..${plan.partCount - 1}), got ${String(index)}`, 'index');
  }
  const offset = index * plan.partSize;
  return { offset, length: Math.min(plan.partSize, plan.outputSize - offset) };
}

/** The encoder's plan for a {@link VhdxPlan}, checked to give the same output. */
function encoderPlanOf(plan: VhdxPlan): EncoderPlan {
  if (plan?.kind !== 'vhdx-stream/plan' || plan.version !== 1) throw badPlan('is not a plan made by planVhdx (version 1)', 'plan');
  const { options, storedRuns } = plan;
  let allocationMap: AllocationMap | undefined;
  if (storedRuns) {
    const present = new Uint8Array(Math.ceil(options.virtualSize / options.blockSize));
    for (let i = 0; i + 1 < storedRuns.length; i += 2) present.fill(1, storedRuns[i], storedRuns[i + 1]);
    allocationMap = { virtualSize: options.virtualSize, blockSize: options.blockSize, present };
  }
  const encoder = planEncoder({ ...options, ...(allocationMap ? { allocationMap } : {}) });
  if (encoder.outputSize !== plan.outputSize || encoder.layout.payloadOffset !== plan.payloadOffset) {
    throw badPlan('does not match its own options (changed after planVhdx?)', 'plan');
  }
  return encoder;
}

/** Most bytes asked of `readRaw` at once (at least one block). */
const MAX_READ = 64 * MiB;

/** Maps a stored block's position in the payload to its block number, through the runs. */
function storedBlockLocator(runs: number[] | null): (slot: number) => number {
  if (!runs) return (slot) => slot;
  const before: number[] = []; // stored blocks before each run
  let count = 0;
  for (let i = 0; i < runs.length; i += 2) {
    before.push(count);
    count += runs[i + 1]! - runs[i]!;
  }
  return (slot) => {
    let lo = 0;
    let hi = before.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (before[mid]! <= slot) lo = mid;
      else hi = mid - 1;
    }
    return runs[2 * lo]! + (slot - before[lo]!);
  };
}

/**
 * Renders part `index` of a plan: exactly bytes [index·partSize, …) of the
 * encoder's output, and their CRC-32C. Deterministic: a retried worker gets
 * the same bytes and CRC. Reads only the raw ranges of stored blocks that
 * fall in the part, coalescing neighbouring blocks into one `readRaw` call.
 * @throws VhdxError INVALID_ARGUMENT (`invalid-option`) for a plan not made by {@link planVhdx} or an index outside it;
 *   TRUNCATED (`source-truncated`) when `readRaw` returns fewer bytes than asked; whatever `readRaw` throws.
 */
export async function renderVhdxPart(plan: VhdxPlan, index: number, readRaw: RawReader): Promise<VhdxPart> {
  const encoder = encoderPlanOf(plan);
  const { offset, length } = vhdxPartRange(plan, index);
  await ready();
  const { layout, present } = encoder;
  const { payloadOffset, blockSize, virtualSize } = layout;
  const bytes = new Uint8Array(length);
  const end = offset + length;
  if (offset < payloadOffset) {
    const prefix = buildPrefix(layout, sequentialOffsets(layout, present ? (b) => present[b] === 1 : undefined));
    bytes.set(prefix.subarray(offset, Math.min(end, payloadOffset)));
  }
  const blockOf = storedBlockLocator(plan.storedRuns);
  for (let at = Math.max(offset, payloadOffset); at < end; ) {
    const slot = Math.floor((at - payloadOffset) / blockSize);
    const block = blockOf(slot);
    const within = at - payloadOffset - slot * blockSize;
    // one read over the following slots while their blocks follow on the raw disk
    let n = Math.min(end - at, blockSize - within);
    for (let k = 1; at + n < end && n + blockSize <= MAX_READ && blockOf(slot + k) === block + k; k++) {
      n = Math.min(end - at, n + blockSize);
    }
    const rawOffset = block * blockSize + within;
    const readable = Math.min(n, virtualSize - rawOffset); // the last block's padding past the disk stays zero
    if (readable > 0) {
      const data = await readRaw(rawOffset, readable);
      if (data?.length !== readable) {
        throw new VhdxError('source-truncated', `readRaw(${rawOffset}, ${readable}) returned ${data?.length ?? 'no'} bytes`, {
          structure: 'input',
          offset: rawOffset,
        });
      }
      bytes.set(data, at - offset);
    }
    at += n;
  }
  return { index, offset, bytes, crc: crc32c(bytes) };
}

/** Options of {@link uploadVhdxPlan}: where the object goes, how many parts at once, and how the requests are made. */
export type VhdxPlanUploadOptions = S3PartsOptions;

/**
 * Uploads a whole plan as one multipart upload, rendering each part here from
 * `readRaw` ({@link renderVhdxPart}) and uploading it with its CRC-32C
 * ({@link uploadS3Part}), `concurrency` parts at once (memory about
 * `partSize × concurrency`, twice that while a part's raw bytes are read);
 * completed with the whole object's CRC-32C. A part that fails is retried
 * (`retries`); the first that keeps failing, or `signal`, aborts the upload, so
 * no object and no open upload is left. To render parts elsewhere (threads,
 * functions), call {@link uploadS3Parts} with your own `putPart`.
 * @throws VhdxError as {@link uploadS3Parts} and {@link renderVhdxPart}
 */
export async function uploadVhdxPlan(plan: VhdxPlan, readRaw: RawReader, options: VhdxPlanUploadOptions): Promise<S3UploadResult> {
  encoderPlanOf(plan);
  return uploadS3Parts(plan.partCount, options, async (index, uploadId, signal) => {
    const part = await renderVhdxPart(plan, index, readRaw);
    return uploadS3Part(options, uploadId, index + 1, part.bytes, part.crc, signal);
  });
}
