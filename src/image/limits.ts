// Memory bounds for reading untrusted files. Every allocation sized by a
// field in the file is checked against one of these first.
import { VhdxError, type VhdxErrorReason, type VhdxStructure } from '../errors.js';
import { MiB } from '../format/bytes.js';

/** Limits on what a file may make the reader allocate. */
export interface ReadLimits {
  /** Largest BAT read into memory (default 256 MiB: 32 Mi entries, 32 TiB at 1 MiB blocks). */
  maxBatBytes?: number;
  /** Largest metadata region read (default 8 MiB). */
  maxMetadataBytes?: number;
  /** Largest log read and replayed (default 64 MiB; Hyper-V writes 1 MiB). */
  maxLogBytes?: number;
  /**
   * Most sector bitmap bytes a differencing file's PARTIALLY_PRESENT blocks may make the reader hold
   * (default 128 MiB: one bit per sector, so 512 GiB of partially present blocks at 512-byte sectors).
   */
  maxBitmapBytes?: number;
}

export interface ResolvedLimits {
  maxBatBytes: number;
  maxMetadataBytes: number;
  maxLogBytes: number;
  maxBitmapBytes: number;
}

/** The limits when none are given. */
export const DEFAULT_LIMITS: ResolvedLimits = {
  maxBatBytes: 256 * MiB,
  maxMetadataBytes: 8 * MiB,
  maxLogBytes: 64 * MiB,
  maxBitmapBytes: 128 * MiB,
};

/**
 * Applies the defaults to `l`.
 * @throws VhdxError `invalid-option` for a limit that is not a positive integer, with its name in `field`.
 */
export function resolveLimits(l: ReadLimits = {}): ResolvedLimits {
  const pick = (v: number | undefined, d: number, name: keyof ReadLimits) => {
    if (v === undefined) return d;
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new VhdxError('invalid-option', `${name} must be a positive integer, got ${String(v)}`, { structure: 'options', field: name });
    }
    return v;
  };
  return {
    maxBatBytes: pick(l.maxBatBytes, DEFAULT_LIMITS.maxBatBytes, 'maxBatBytes'),
    maxMetadataBytes: pick(l.maxMetadataBytes, DEFAULT_LIMITS.maxMetadataBytes, 'maxMetadataBytes'),
    maxLogBytes: pick(l.maxLogBytes, DEFAULT_LIMITS.maxLogBytes, 'maxLogBytes'),
    maxBitmapBytes: pick(l.maxBitmapBytes, DEFAULT_LIMITS.maxBitmapBytes, 'maxBitmapBytes'),
  };
}

/** The reasons a read limit gives, one per limit. */
export type LimitReason = Extract<VhdxErrorReason, 'bat-over-limit' | 'metadata-over-limit' | 'log-over-limit' | 'bitmap-over-limit'>;

const LIMITED: Record<LimitReason, { structure: VhdxStructure; option: keyof ResolvedLimits }> = {
  'bat-over-limit': { structure: 'bat', option: 'maxBatBytes' },
  'metadata-over-limit': { structure: 'metadata region', option: 'maxMetadataBytes' },
  'log-over-limit': { structure: 'log', option: 'maxLogBytes' },
  'bitmap-over-limit': { structure: 'sector bitmap', option: 'maxBitmapBytes' },
};

/**
 * Refuses to allocate `bytes` for the structure `reason` names when that is
 * over its limit in `limits`.
 * @throws VhdxError `reason` (`bat-over-limit`, `metadata-over-limit`, `log-over-limit` or `bitmap-over-limit`).
 */
export function checkLimit(reason: LimitReason, bytes: number, limits: ResolvedLimits, offset?: number): void;
export function checkLimit(reason: LimitReason, bytes: number, limits: ResolvedLimits, offset?: number): void {
  refuseOver(reason, bytes, limits[LIMITED[reason].option], offset);
}

function refuseOver(reason: LimitReason, bytes: number, limit: number, offset: number | undefined): void {
  if (bytes <= limit) return;
  const { structure, option } = LIMITED[reason];
  throw new VhdxError(reason, `${structure} is ${bytes} bytes, over the ${limit}-byte limit (option ${option})`, { structure, offset });
}
