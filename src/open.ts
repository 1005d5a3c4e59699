// The default entry's openVhdx: read-only inputs go to image/, writable opens
// to edit/ (bytes, Blobs and URLs cannot be written and say so).
import { openVhdxWritable, repairVhdxFile, type RepairReport } from './edit/open.js';
import type { OpenVhdxOptions, VhdxImage } from './image/image.js';
import { openVhdx as openReadOnly } from './image/open.js';
import type { SourceInput } from './sources/types.js';
import { openWritableFile, type WritableFileInput } from './sources/writable.js';

/**
 * Opens a VHDX for random access: bytes, a Blob/File, an http(s) URL (Range
 * requests), or any `{ size, read }`. File paths and FileHandles: the same
 * function from `vhdx-stream/node`. A differencing file's parents are found
 * through the `parent` and `resolveParent` options, or for a URL relative to
 * it by the locator's relative_path (see {@link ChainOptions}).
 *
 * With `{ writable: true }` the file is changed in place through
 * {@link VhdxImage.write}, {@link VhdxImage.discard}, {@link VhdxImage.flush}
 * and {@link VhdxImage.close}: pass an OPFS `FileSystemSyncAccessHandle` (in a
 * Worker) or a {@link CustomFile} `{ size, read, write, truncate, flush }`.
 * A dirty log is replayed onto the file first. See docs/writing.md.
 * @throws VhdxError `NOT_VHDX`, `CORRUPT`, `BAD_CHECKSUM`, `TRUNCATED`,
 *   `UNSUPPORTED` or `LIMIT_EXCEEDED` for a file that cannot be opened (each
 *   with its reason, structure and offset); `INVALID_ARGUMENT`
 *   (`unsupported-source`, `invalid-option`; `source-not-writable` for an input
 *   that cannot be written with `writable`); `IO` when the source fails,
 *   and `UNSUPPORTED` (`range-not-supported`) for a server without Range requests.
 *   For a differencing file: `IO` (`parent-missing`); `CORRUPT` (`parent-linkage-mismatch`,
 *   `parent-sector-size-mismatch`, `parent-size-mismatch`, `chain-loop`, `bitmap-missing`,
 *   `locator-malformed`); `LIMIT_EXCEEDED` (`chain-too-deep`, `bitmap-over-limit`).
 *   Writable: `CORRUPT` (`log-not-replayable`, `log-flushed-past-eof`) for a file the format forbids writing.
 */
export async function openVhdx(input: SourceInput | WritableFileInput, options: OpenVhdxOptions = {}): Promise<VhdxImage> {
  if (!options.writable) return openReadOnly(input as SourceInput, options);
  return openVhdxWritable(openWritableFile(input), options);
}

/**
 * Repairs a VHDX in place as `qemu-img check -r all` does: a dirty log is
 * replayed onto the file, an active log with nothing to replay is cleared, the
 * file is grown to the log's LastFileOffset; then the headers are closed.
 * A clean file is not written. Inputs as for a writable {@link openVhdx}.
 * Returns what was done, one action each.
 * @throws VhdxError as a writable {@link openVhdx}: `log-not-replayable` and
 *   `log-flushed-past-eof` when the format forbids writing the file (nothing is written).
 */
export function repairVhdx(input: WritableFileInput, options: OpenVhdxOptions = {}): Promise<RepairReport> {
  return repairVhdxFile(openWritableFile(input), options);
}
