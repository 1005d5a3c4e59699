// VHDX -> raw from chunks that a reader reuses (stdin, a pipe): the decoder
// core driven directly, with no WHATWG stream and no copy per chunk.
import { ready } from '../wasm/instance.js';
import { DecoderCore, type VhdxDecoderOptions, type VhdxInfo } from '../streams/decoder-core.js';

/** Options of {@link decodeVhdxChunks}. */
export interface DecodeChunksOptions extends VhdxDecoderOptions {
  /** Called once the image's structures have passed, before its first byte is written. */
  onInfo?(info: VhdxInfo): void;
}

/**
 * Decodes a VHDX file arriving as `chunks` (in file order) into the raw
 * disk, handed to `write` in order. Each chunk is finished with (every
 * write it allows settled) before the next is asked for, so the reader may
 * reuse its buffers: pieces are views of the chunk, of a shared zero buffer
 * or of held copies, and only bytes held for later (blocks stored out of
 * order, payload before the BAT) are copied. Returns the image's info and
 * the bytes written (its virtual size).
 * @throws VhdxError as VhdxDecoderStream errors (`not-vhdx`, `input-truncated`, `header-section-truncated`,
 *   `reorder-buffer-full`, `log-flushed-past-eof`, `differencing-unsupported`, `invalid-option`, the loader's);
 *   errors of `chunks` and `write` as they are
 */
export async function decodeVhdxChunks(
  chunks: AsyncIterable<Uint8Array>,
  write: (piece: Uint8Array) => Promise<void>,
  options: DecodeChunksOptions = {},
): Promise<{ info: VhdxInfo; bytesWritten: number }> {
  const core = new DecoderCore(options, { transientInput: true, ...(options.onInfo ? { onInfo: options.onInfo } : {}) });
  await ready();
  let bytesWritten = 0;
  const emit = (piece: Uint8Array) => {
    bytesWritten += piece.length;
    return write(piece);
  };
  for await (const chunk of chunks) await core.push(chunk, emit);
  await core.end(emit);
  return { info: await core.info, bytesWritten };
}
