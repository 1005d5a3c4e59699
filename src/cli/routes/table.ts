// Which route converts what: one entry for every (input kind, direction,
// output kind) the command accepts. The direction comes from the input's
// first bytes and --to; the table is the only place that decides the rest.
import { hasVhdxSignature } from '../../format/identifier.js';
import { UsageError } from '../args.js';
import type { InputKind, OpenedInput } from '../inputs.js';
import type { Output, OutputKind } from '../sinks.js';
import { rawFileToVhdxFile, rawFileToVhdxStdout, rawStdinToVhdxFile, rawStdinToVhdxStdout, rawUrlToVhdx } from './raw-to-vhdx.js';
import type { ConversionJob, Direction, OutputOfKind, Route } from './types.js';
import { vhdxFileToRawFile, vhdxFileToRawStdout, vhdxStdinToRaw, vhdxUrlToRaw } from './vhdx-to-raw.js';
import { vhdxFileToVhdx, vhdxStdinToVhdx, vhdxUrlToVhdx } from './vhdx-to-vhdx.js';

export type RouteTable = { readonly [I in InputKind]: { readonly [D in Direction]: { readonly [O in OutputKind]: Route<I, O> } } };

export const ROUTES: RouteTable = {
  path: {
    'raw->vhdx': { file: rawFileToVhdxFile, stdout: rawFileToVhdxStdout },
    'vhdx->raw': { file: vhdxFileToRawFile, stdout: vhdxFileToRawStdout },
    'vhdx->vhdx': { file: vhdxFileToVhdx, stdout: vhdxFileToVhdx },
  },
  stdin: {
    'raw->vhdx': { file: rawStdinToVhdxFile, stdout: rawStdinToVhdxStdout },
    'vhdx->raw': { file: vhdxStdinToRaw, stdout: vhdxStdinToRaw },
    'vhdx->vhdx': { file: vhdxStdinToVhdx, stdout: vhdxStdinToVhdx },
  },
  url: {
    'raw->vhdx': { file: rawUrlToVhdx, stdout: rawUrlToVhdx },
    'vhdx->raw': { file: vhdxUrlToRaw, stdout: vhdxUrlToRaw },
    'vhdx->vhdx': { file: vhdxUrlToVhdx, stdout: vhdxUrlToVhdx },
  },
};

/**
 * The direction for an input starting with `head`: a VHDX becomes raw, or a
 * VHDX again with --to vhdx; anything else becomes a VHDX (--to raw included).
 * @throws UsageError for an empty input without --to: nothing says what it is
 */
export function directionFor(head: Uint8Array, to: 'raw' | 'vhdx' | undefined): Direction {
  if (!hasVhdxSignature(head)) {
    if (to === undefined && head.length === 0) throw new UsageError('the input is empty');
    return 'raw->vhdx';
  }
  return to === 'vhdx' ? 'vhdx->vhdx' : 'vhdx->raw';
}

/** Runs the route for `input` in `direction` to `output`. */
export function runRoute(input: OpenedInput, direction: Direction, output: Output, job: ConversionJob): Promise<void> {
  return run(input.kind, input.input, direction, output.kind, output, job);
}

// the generic signature keeps each route's input and output types tied to its key
function run<I extends InputKind, O extends OutputKind>(
  inputKind: I,
  input: Parameters<Route<I, O>>[0],
  direction: Direction,
  outputKind: O,
  output: OutputOfKind[O],
  job: ConversionJob,
): Promise<void> {
  const route: Route<I, O> = ROUTES[inputKind][direction][outputKind];
  return route(input, output, job);
}
