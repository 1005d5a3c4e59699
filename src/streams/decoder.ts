// VHDX -> raw as a WHATWG stream pair: a thin adapter over DecoderCore, which
// does the work. This file only handles backpressure: the core's emit
// resolves at once while the output queue has room, and otherwise when the
// consumer next pulls.
import { VhdxError } from '../errors.js';
import { ready } from '../wasm/instance.js';
import { ReadableStreamImpl, WritableStreamImpl, asBytes, byteStrategy } from '../runtime/web-streams.js';
import { DecoderCore, type EmitPiece, type VhdxDecoderOptions, type VhdxInfo } from './decoder-core.js';

export { DEFAULT_MAX_BUFFER } from './decoder-core.js';
export type { VhdxDecoderOptions } from './decoder-core.js';

/** Bytes queued on the output before the decoder waits for the consumer. */
const OUT_QUEUE = 8 * 1024 * 1024;

/**
 * Converts a VHDX byte stream into the raw disk, like `DecompressionStream`:
 *
 * ```ts
 * const raw = (await fetch(url)).body!.pipeThrough(new VhdxDecoderStream());
 * ```
 *
 * Zero stretches are emitted as views of one zero buffer per stream: treat
 * output chunks as read-only.
 *
 * A differencing file (a Hyper-V checkpoint, .avhdx) streams with its parent
 * opened at random access: `new VhdxDecoderStream({ parent: await openVhdx(base) })`;
 * the output is the merged disk.
 *
 * The streams error with a VhdxError: NOT_VHDX `not-vhdx`; TRUNCATED
 * `header-section-truncated` or `input-truncated` when the input ends early;
 * LIMIT_EXCEEDED `reorder-buffer-full` past maxBufferBytes; CORRUPT
 * `log-flushed-past-eof` when data a dirty log counts on is missing; for a
 * differencing file, before any output, IO `parent-missing` without the
 * `parent` option and CORRUPT `parent-linkage-mismatch`, `parent-size-mismatch`,
 * `parent-sector-size-mismatch`, `chain-loop` (LIMIT_EXCEEDED `chain-too-deep`)
 * for a parent that does not fit; IO `cancelled` when the consumer
 * cancels without a reason; or the image loader's reason for bad structures.
 *
 * @throws VhdxError INVALID_ARGUMENT `invalid-option` from the constructor for a bad maxBufferBytes, maxChainDepth or read limit
 */
export class VhdxDecoderStream implements GenericTransformStream {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves with the image's info once its structures have streamed past. */
  readonly info: Promise<VhdxInfo>;

  constructor(options: VhdxDecoderOptions = {}) {
    let out!: ReadableStreamDefaultController<Uint8Array>;
    let failed = false;
    let wakeProducer: (() => void) | undefined;
    const wake = () => {
      const w = wakeProducer;
      wakeProducer = undefined;
      w?.();
    };
    const core = new DecoderCore(options, {
      onFail: (reason) => {
        failed = true;
        try {
          out.error(reason);
        } catch {
          // already closed or errored
        }
        wake(); // a producer waiting for the consumer finds the core failed
      },
    });
    this.info = core.info;
    const emit: EmitPiece = (piece) => {
      if (failed) return;
      out.enqueue(piece);
      if (out.desiredSize !== null && out.desiredSize <= 0) {
        return new Promise<void>((resolve) => {
          wakeProducer = resolve;
        });
      }
    };
    this.writable = new WritableStreamImpl<Uint8Array>(
      {
        start: () => ready().then(() => undefined),
        write: (chunk) => core.push(asBytes(chunk), emit),
        close: () => core.end(emit).then(() => out.close()),
        abort: (reason) => void core.fail(reason),
      },
      byteStrategy(),
    );
    this.readable = new ReadableStreamImpl<Uint8Array>(
      {
        start: (controller) => {
          out = controller;
        },
        pull: wake,
        cancel: (reason) => void core.fail(reason ?? new VhdxError('cancelled', 'output cancelled', { structure: 'target' })),
      },
      byteStrategy(OUT_QUEUE),
    );
  }
}
