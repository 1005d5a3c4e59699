// Creating differencing files (children) from Node paths: an empty child of
// a parent, or a child holding what a raw file changes from its parent.
// Written under a temporary name and renamed into place, as every output.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { VhdxError, asVhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import type { OpenVhdxOptions, VhdxImage } from '../image/image.js';
import { openVhdxSource } from '../image/open.js';
import { VhdxWriterStream, type VhdxWriteSummary, type VhdxWriterOptions } from '../streams/writer.js';
import { readFully, refuseSameFile, writeFully } from './file-io.js';
import { openNodeSource } from './file-source.js';
import { writeOutputFile } from './output.js';
import { childRelativePath, nodeOpenContext } from './parent-paths.js';

/** Options of {@link convertRawFileToChild} and {@link createChildFile}. */
export interface ChildFileOptions extends Omit<VhdxWriterOptions, 'parent' | 'virtualSize' | 'logicalSectorSize'> {
  /** How the parent (and its own parents) are opened. */
  open?: OpenVhdxOptions;
  /** Called after each chunk with bytes processed and the total. */
  onProgress?(done: number, total: number): void;
  /** Bytes per read (default 4 MiB). */
  chunkSize?: number;
}

/** Writes a child at `output`'s temporary path, feeding it `feed`; the parent is opened from `parentPath`. */
async function writeChild(
  output: string,
  parentPath: string,
  options: ChildFileOptions,
  feed: (parent: VhdxImage, write: (bytes: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<VhdxWriteSummary> {
  await refuseSameFile(parentPath, output);
  const { open: openOptions = {}, onProgress: _p, chunkSize: _c, ...writerOptions } = options;
  const parent = await openVhdxSource(await openNodeSource(parentPath, openOptions), openOptions, nodeOpenContext(parentPath, openOptions));
  try {
    return await writeOutputFile(output, async (path) => {
      let fh: FileHandle;
      try {
        fh = await open(path, 'w');
      } catch (err) {
        throw asVhdxError(err, 'create-failed', `cannot create ${output}`);
      }
      const target = {
        write: (data: Uint8Array, position: number) => writeFully(fh, data, position),
        truncate: (size: number) => fh.truncate(size),
        close: () => fh.close(),
      };
      const sink = new VhdxWriterStream(target, {
        ...writerOptions,
        parent,
        parentRelativePath: writerOptions.parentRelativePath ?? childRelativePath(output, parentPath),
      });
      const writer = sink.getWriter();
      try {
        await feed(parent, (bytes) => writer.write(bytes));
        await writer.close();
      } catch (err) {
        await writer.abort(err).catch(() => {});
        await fh.close().catch(() => {});
        throw await sink.result.catch((e) => e ?? err);
      }
      return sink.result;
    });
  } finally {
    await parent.close();
  }
}

/**
 * Writes an empty differencing file at `output` whose parent is the VHDX at `parent`: it reads as the
 * parent reads. Its Parent Locator names the parent's DataWriteGuid and its path relative to `output`.
 * @throws VhdxError what opening the parent throws; `invalid-option`; IO `create-failed`, `write-failed`; `output-is-input`
 */
export async function createChildFile(output: string, parent: string, options: ChildFileOptions = {}): Promise<VhdxWriteSummary> {
  return writeChild(output, parent, options, async () => {});
}

/**
 * Writes a differencing file at `output` over the VHDX at `parent` that reads as the raw disk image
 * `input`, holding only the blocks where they differ (see VhdxWriterStream's `parent` option). A raw
 * file shorter than the parent's disk reads as zeros past its end.
 * @throws VhdxError what opening the parent throws; `input-too-long` for a raw file larger than the
 *   parent's disk; `open-failed`, `read-failed`, `create-failed`, `write-failed`; `output-is-input`
 */
export async function convertRawFileToChild(
  input: string,
  output: string,
  parent: string,
  options: ChildFileOptions = {},
): Promise<VhdxWriteSummary> {
  await refuseSameFile(input, output);
  const size = await stat(input).then(
    (s) => s.size,
    (err) => {
      throw asVhdxError(err, 'open-failed', `cannot read ${input}`);
    },
  );
  const chunkSize = options.chunkSize ?? 4 * MiB;
  return writeChild(output, parent, options, async (image, write) => {
    const total = image.info.virtualSize;
    if (size > total) throw new VhdxError('input-too-long', `${input} is ${size} bytes, larger than the parent's ${total}-byte disk`);
    const fh = await open(input, 'r').catch((err) => {
      throw asVhdxError(err, 'open-failed', `cannot open ${input}`);
    });
    try {
      for (let at = 0; at < total; at += chunkSize) {
        // a fresh buffer per chunk: the writer may still hold the last one
        const chunk = new Uint8Array(Math.min(chunkSize, total - at));
        if (at < size) {
          await readFully(fh, chunk.subarray(0, Math.min(chunk.length, size - at)), at).catch((err) => {
            throw asVhdxError(err, 'read-failed', `reading ${input}`);
          });
        }
        await write(chunk);
        options.onProgress?.(at + chunk.length, total);
      }
    } finally {
      await fh.close().catch(() => {});
    }
  });
}
