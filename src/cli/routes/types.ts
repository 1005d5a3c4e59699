// What every conversion route receives: its input (typed by kind), its
// output (typed by kind), and the job it runs in.
import type { VhdxImage } from '../../image/image.js';
import type { VhdxCreateOptions } from '../../layout/options.js';
import type { InputKind, InputOfKind } from '../inputs.js';
import type { FileOutput, OutputKind, StdoutOutput } from '../sinks.js';

/** raw->raw is not one: a raw input always becomes a VHDX. */
export type Direction = 'raw->vhdx' | 'vhdx->raw' | 'vhdx->vhdx';

export type ProgressCallback = (done: number, total: number) => void;

/** The conversion a route carries out, beyond its input and output. */
export interface ConversionJob {
  /** The VHDX to make, as the command line gave it (a to-VHDX route fills in the rest). */
  readonly create: Readonly<VhdxCreateOptions>;
  /** Progress, when it is shown. */
  readonly onProgress: ProgressCallback | undefined;
  /** Opens a VHDX that is closed when the conversion ends, however it ends. */
  openImage(source: string | Uint8Array): Promise<VhdxImage>;
}

/** What a route of each output kind receives. */
export interface OutputOfKind {
  file: FileOutput;
  stdout: StdoutOutput;
}

/** One conversion route: input kind I, output kind O. */
export type Route<I extends InputKind, O extends OutputKind> = (
  input: InputOfKind[I],
  output: OutputOfKind[O],
  job: ConversionJob,
) => Promise<void>;
