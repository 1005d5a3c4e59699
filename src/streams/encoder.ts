// raw -> VHDX as a TransformStream: a thin adapter over EncoderCore, which
// does the work; this file only connects it to the WHATWG stream classes.
import { ready } from '../wasm/instance.js';
import { TransformStreamImpl, asBytes, byteStrategy } from '../runtime/web-streams.js';
import { CREATE_OPTION_KEYS, refuseOtherOptions } from '../layout/options.js';
import { EncoderCore, type EncoderLayoutInfo, type VhdxEncoderOptions } from './encoder-core.js';

const ENCODER_KEYS = { ...CREATE_OPTION_KEYS, allocationMap: true } as const satisfies Record<keyof VhdxEncoderOptions, true>;
const CHILD_ELSEWHERE = {
  parent: 'a differencing child is written at positions, by VhdxWriterStream',
  parentRelativePath: 'a differencing child is written at positions, by VhdxWriterStream',
};

export { planEncoder } from './encoder-core.js';
export type { EncoderLayoutInfo, EncoderPlan, VhdxEncoderOptions } from './encoder-core.js';

/**
 * Converts a raw disk stream into a VHDX stream, like `CompressionStream`:
 *
 * ```ts
 * const res = await fetch(url);
 * const vhdx = res.body!.pipeThrough(new VhdxEncoderStream({ virtualSize: Number(res.headers.get('content-length')) }));
 * ```
 *
 * The output length is known up front ({@link VhdxEncoderStream.outputSize}).
 * Input longer than `virtualSize` errors the stream (INVALID_ARGUMENT,
 * `input-too-long`); input that ends early errors it with TRUNCATED
 * (`input-truncated`: a short download never becomes a padded disk); data in
 * a block the allocation map calls zero errors it (`map-contradicts-input`).
 *
 * @throws VhdxError INVALID_ARGUMENT (`invalid-option`, `map-mismatch`) from the constructor for bad options
 */
export class VhdxEncoderStream implements GenericTransformStream {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Exact number of bytes the readable side will produce. */
  readonly outputSize: number;
  /** The planned layout. */
  readonly layout: EncoderLayoutInfo;

  constructor(options: VhdxEncoderOptions) {
    refuseOtherOptions(options, ENCODER_KEYS, 'VhdxEncoderStream', CHILD_ELSEWHERE);
    let out!: TransformStreamDefaultController<Uint8Array>;
    const core = new EncoderCore(options, (piece) => out.enqueue(piece));
    this.outputSize = core.plan.outputSize;
    this.layout = core.plan.info;
    const stream = new TransformStreamImpl<Uint8Array, Uint8Array>(
      {
        async start(controller) {
          await ready();
          out = controller;
          core.start();
        },
        transform: (chunk) => core.push(asBytes(chunk)),
        flush: () => core.finish(),
      },
      byteStrategy(),
      byteStrategy(),
    );
    this.readable = stream.readable;
    this.writable = stream.writable;
  }
}
