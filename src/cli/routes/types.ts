// What every conversion route receives: its input (typed by kind), its
// output (typed by kind), and the job it runs in.
import type { VhdxImage } from '../../image/image.js';
import type { VhdxCreateOptions } from '../../layout/options.js';
import type { InputKind, InputOfKind, UrlInput } from '../inputs.js';
import type { ChainFlags, ImageFormat } from '../args.js';
import type { FileOutput, OutputKind, StdoutOutput } from '../sinks.js';

/**
 * What a conversion reads and what it writes: raw->raw is a sparse copy, vhdx->vhdx re-encodes, and
 * `->child` writes a differencing VHDX over --parent holding only what differs from it.
 */
export type Direction = `${ImageFormat}->${ImageFormat | 'child'}`;

export type { ImageFormat };

export type ProgressCallback = (done: number, total: number) => void;

/** The conversion a route carries out, beyond its input and output. */
export interface ConversionJob {
  /** The VHDX to make, as the command line gave it (a to-VHDX route fills in the rest); `virtualSize` is --size. */
  readonly create: Readonly<VhdxCreateOptions>;
  /** How a VHDX input's differencing chain is followed (--parent, --ignore-linkage). */
  readonly chain: ChainFlags;
  /** --parallel N: worker threads, each rendering whole parts of one plan (raw -> VHDX into a file or an object). */
  readonly parallel: number | undefined;
  /** How the input is read, when -f forces it (else its first bytes decide). */
  readonly inputFormat: ImageFormat | undefined;
  /** The output format when -O/--to or the output's name gives it (else the other format of the input). */
  readonly outputFormat: ImageFormat | undefined;
  /** Progress, when it is shown. */
  readonly onProgress: ProgressCallback | undefined;
  /**
   * Refuses a file output that a differencing file beside it names as its parent, unless --force
   * (VhdxError `output-has-children`).
   */
  refuseReplacingParent(): Promise<void>;
  /** Tells the user something they did not ask about but should know (one line on stderr). */
  notice(text: string): void;
  /**
   * Opens a VHDX that is closed when the conversion ends, however it ends; a differencing file's chain
   * is followed as `chain` says (a warning line for a parent accepted with --ignore-linkage), unless
   * `followChain` is false (the --parent file itself, whose own parents are found by its locator).
   * A path or URL opened again the same way gives the same image; a URL input is fetched as it says (an s3:// object signed).
   */
  openImage(source: string | Uint8Array | UrlInput, options?: { followChain: boolean }): Promise<VhdxImage>;
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
