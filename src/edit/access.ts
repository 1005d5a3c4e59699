// How an in-place operation (compact, resize, set-parent) opens its file:
// read-only for a dry run or a refusal decided before any write, or as an
// edit session (edit/open.ts). The entries build one from their inputs.
import type { OpenVhdxOptions, VhdxImage } from '../image/image.js';
import type { ImageModel } from '../image/load.js';
import { openVhdxSource, type OpenContext } from '../image/open.js';
import { overlayReader } from '../image/overlay.js';
import type { ByteReader } from '../image/reader.js';
import { openSource } from '../sources/index.js';
import type { RandomAccessFile, ReadableFile, SourceInput } from '../sources/types.js';
import { openWritableFile } from '../sources/writable.js';
import { openEditSession, type EditSession } from './open.js';

/** A read-only open: the image and a reader of its file as its log leaves it. */
export interface ReadOnlySession {
  image: VhdxImage;
  file: ByteReader;
}

/** How an in-place operation opens its file. */
export interface InPlaceAccess {
  readOnly(): Promise<ReadOnlySession>;
  /** `precheck` sees the model before anything is written. */
  editable(precheck?: (model: ImageModel) => void): Promise<EditSession>;
}

/** The access of one file, given how its entry opens it each way. */
export function inPlaceAccess(
  openReading: () => Promise<ReadableFile>,
  openWriting: () => Promise<RandomAccessFile>,
  options: OpenVhdxOptions,
  context: () => OpenContext | undefined,
): InPlaceAccess {
  const opts: OpenVhdxOptions = { ...options, writable: false };
  return {
    async readOnly() {
      const source = await openReading();
      const image = await openVhdxSource(source, opts, context());
      return { image, file: overlayReader(source, image.loadedModel.overlay) };
    },
    async editable(precheck) {
      return openEditSession(await openWriting(), opts, context(), precheck);
    },
  };
}

/** The default entry's access: an OPFS access handle or `{ size, read, write, truncate, flush }` (for a dry run also bytes, Blobs, URLs). */
export function defaultAccess(input: unknown, options: OpenVhdxOptions): InPlaceAccess {
  return inPlaceAccess(
    async () => {
      try {
        // left open: the caller's handle, which an editable open may take next
        const { close: _, ...file } = openWritableFile(input);
        return file;
      } catch {
        return openSource(input as SourceInput, options);
      }
    },
    async () => openWritableFile(input),
    options,
    () => undefined,
  );
}
