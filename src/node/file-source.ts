// Node file sources: a path or an open FileHandle, read with positional reads.
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { asVhdxError } from '../errors.js';
import { openSource, type HttpSourceOptions, type ReadableFile, type SourceInput } from '../sources/index.js';
import { isFileHandle } from './file-io.js';
import { fileHandleFileOf, fileUrlPath } from './file.js';
import { isHttpUrl } from '../sources/http.js';

/** What the Node entry's `openVhdx()` and `scanAllocation()` accept: every runtime's inputs, plus paths and FileHandles. */
export type NodeSourceInput = SourceInput | string | FileHandle;

export async function pathSource(path: string): Promise<ReadableFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw asVhdxError(err, 'open-failed', `cannot open ${path}`);
  }
  return fileHandleFileOf(fh, true);
}

/** Opens a path, a `file:` URL or a FileHandle, or anything {@link openSource} takes. The caller closes it. */
export async function openNodeSource(input: NodeSourceInput, http: HttpSourceOptions = {}): Promise<ReadableFile> {
  const fileUrl = fileUrlPath(input);
  if (fileUrl !== undefined) return pathSource(fileUrl);
  if (typeof input === 'string' && !isHttpUrl(input)) return pathSource(input);
  if (isFileHandle(input)) return fileHandleFileOf(input, false);
  return openSource(input as SourceInput, http);
}
