// The part grid of a multipart upload: S3's limits, and a part size that
// fits them for an object of a known size.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';

/** S3's multipart limits (R2, GCS's XML API and Ceph RGW take the same). */
export const MULTIPART_LIMITS = {
  /** Smallest part but the last. */
  minPartSize: 5 * MiB,
  /** Largest part. */
  maxPartSize: 5 * 1024 * MiB,
  /** Most parts in one upload. */
  maxParts: 10_000,
} as const;

function bad(message: string): VhdxError {
  return new VhdxError('invalid-option', message, { structure: 'options', field: 'partSize' });
}

/**
 * The part size (`asked`, or a default: 16 MiB, or the smallest whole MiB that
 * fits 10,000 parts) and part count for an object of `outputSize` bytes.
 * @throws VhdxError INVALID_ARGUMENT (`invalid-option`, field `partSize`) outside 5 MiB..5 GiB or past 10,000 parts.
 */
export function choosePartSize(outputSize: number, asked: number | undefined): { partSize: number; partCount: number } {
  const { minPartSize, maxPartSize, maxParts } = MULTIPART_LIMITS;
  const partSize = asked ?? Math.max(16 * MiB, Math.ceil(outputSize / maxParts / MiB) * MiB);
  if (typeof partSize !== 'number' || !Number.isSafeInteger(partSize) || partSize < minPartSize || partSize > maxPartSize) {
    throw bad(`must be a whole number of bytes from 5 MiB to 5 GiB, got ${String(partSize)}`);
  }
  const partCount = Math.max(1, Math.ceil(outputSize / partSize));
  if (partCount > maxParts) {
    throw bad(`${partSize} gives ${partCount} parts for ${outputSize} bytes; at most ${maxParts} are allowed`);
  }
  return { partSize, partCount };
}
