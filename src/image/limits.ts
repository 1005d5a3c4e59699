// Memory bounds for reading untrusted files. Every allocation sized by a
// field in the file is checked against one of these first.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';

/** Limits on what a file may make the reader allocate. */
export interface ReadLimits {
  /** Largest BAT read into memory (default 256 MiB: 32 Mi entries, 32 TiB at 1 MiB blocks). */
  maxBatBytes?: number;
  /** Largest metadata region read (default 8 MiB). */
  maxMetadataBytes?: number;
  /** Largest log read and replayed (default 64 MiB; Hyper-V writes 1 MiB). */
  maxLogBytes?: number;
}

export interface ResolvedLimits {
  maxBatBytes: number;
  maxMetadataBytes: number;
  maxLogBytes: number;
}

export const DEFAULT_LIMITS: ResolvedLimits = {
  maxBatBytes: 256 * MiB,
  maxMetadataBytes: 8 * MiB,
  maxLogBytes: 64 * MiB,
};

export function resolveLimits(l: ReadLimits = {}): ResolvedLimits {
  const pick = (v: number | undefined, d: number, name: string) => {
    if (v === undefined) return d;
    if (!Number.isSafeInteger(v) || v <= 0) throw new VhdxError('INVALID_ARGUMENT', `${name} must be a positive integer`);
    return v;
  };
  return {
    maxBatBytes: pick(l.maxBatBytes, DEFAULT_LIMITS.maxBatBytes, 'maxBatBytes'),
    maxMetadataBytes: pick(l.maxMetadataBytes, DEFAULT_LIMITS.maxMetadataBytes, 'maxMetadataBytes'),
    maxLogBytes: pick(l.maxLogBytes, DEFAULT_LIMITS.maxLogBytes, 'maxLogBytes'),
  };
}

export function checkLimit(bytes: number, limit: number, what: string, option: string, offset?: number): void {
  if (bytes > limit) {
    throw new VhdxError('LIMIT_EXCEEDED', `${what} is ${bytes} bytes, over the ${limit}-byte limit (option ${option})`, {
      structure: what,
      offset,
    });
  }
}
