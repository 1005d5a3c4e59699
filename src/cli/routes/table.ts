// Which route converts what: one entry for every (input kind, direction,
// output kind) the command accepts. The direction comes from the input's
// first bytes, -f, and the output format (-O/--to, or the output's name);
// the table is the only place that decides the rest.
import { hasVhdxSignature } from '../../format/identifier.js';
import { fstatSync } from 'node:fs';
import { VhdxError } from '../../errors.js';
import { refuseOutputInChain } from '../../node/chain-output.js';
import { isSameFile, refuseSameFile } from '../../node/file-io.js';
import { UsageError } from '../usage-error.js';
import type { InputKind, OpenedInput } from '../inputs.js';
import type { Output, OutputKind } from '../sinks.js';
import { childInput, toChild } from './to-child.js';
import { rawFileToRawFile, rawFileToRawStdout, rawStreamToRaw, rawUrlToRaw } from './raw-to-raw.js';
import { rawFileToVhdxFile, rawFileToVhdxStdout, rawStreamToVhdxFile, rawStreamToVhdxStdout, rawUrlToVhdx } from './raw-to-vhdx.js';
import type { ConversionJob, Direction, ImageFormat, OutputOfKind, Route } from './types.js';
import { vhdxFileToRawFile, vhdxFileToRawStdout, vhdxStreamToRaw, vhdxUrlToRaw } from './vhdx-to-raw.js';
import { vhdxFileToVhdx, vhdxStreamToVhdx, vhdxUrlToVhdx } from './vhdx-to-vhdx.js';

export type RouteTable = { readonly [I in InputKind]: { readonly [D in Direction]: { readonly [O in OutputKind]: Route<I, O> } } };

export const ROUTES: RouteTable = {
  path: {
    'raw->vhdx': { file: rawFileToVhdxFile, stdout: rawFileToVhdxStdout },
    'raw->raw': { file: rawFileToRawFile, stdout: rawFileToRawStdout },
    'vhdx->raw': { file: vhdxFileToRawFile, stdout: vhdxFileToRawStdout },
    'vhdx->vhdx': { file: vhdxFileToVhdx, stdout: vhdxFileToVhdx },
  },
  stdin: {
    'raw->vhdx': { file: rawStreamToVhdxFile, stdout: rawStreamToVhdxStdout },
    'raw->raw': { file: rawStreamToRaw, stdout: rawStreamToRaw },
    'vhdx->raw': { file: vhdxStreamToRaw, stdout: vhdxStreamToRaw },
    'vhdx->vhdx': { file: vhdxStreamToVhdx, stdout: vhdxStreamToVhdx },
  },
  url: {
    'raw->vhdx': { file: rawUrlToVhdx, stdout: rawUrlToVhdx },
    'raw->raw': { file: rawUrlToRaw, stdout: rawUrlToRaw },
    'vhdx->raw': { file: vhdxUrlToRaw, stdout: vhdxUrlToRaw },
    'vhdx->vhdx': { file: vhdxUrlToVhdx, stdout: vhdxUrlToVhdx },
  },
};

const OTHER: Record<ImageFormat, ImageFormat> = { raw: 'vhdx', vhdx: 'raw' };

/**
 * The direction for an input starting with `head`: read as `inputFormat`
 * when -f forces it, else as its first bytes say (a VHDX signature or not);
 * written as `to`, else as the other format.
 * @throws UsageError for an empty input when nothing says what it is or what to make
 */
export function directionFor(head: Uint8Array, to: ImageFormat | undefined, inputFormat?: ImageFormat): Direction {
  if (inputFormat === undefined && to === undefined && head.length === 0) throw new UsageError('the input is empty');
  const from = inputFormat ?? (hasVhdxSignature(head) ? 'vhdx' : 'raw');
  return `${from}->${to ?? OTHER[from]}`;
}

/**
 * The direction `guessed` from the first bytes and --to, with what the job
 * settled before the input was opened: -f replaces what the bytes said, and
 * the output's name stands for -O.
 */
export function settleDirection(guessed: Direction, job: Pick<ConversionJob, 'inputFormat' | 'outputFormat'>): Direction {
  const [bytesSay, toSays] = guessed.split('->') as [ImageFormat, ImageFormat];
  const from = job.inputFormat ?? bytesSay;
  const to = job.outputFormat ?? (job.inputFormat ? OTHER[from] : toSays);
  return `${from}->${to}`;
}

/**
 * Runs the route for `input` in `direction` (settled with the job, see
 * {@link settleDirection}) to `output`.
 * @throws UsageError for --ignore-linkage with a raw input, --parent with raw output; --size with VHDX -> raw (the raw disk is the VHDX's size); VhdxError 'output-is-input'
 *   when the output is written in place and is the input file; what the route throws
 */
export async function runRoute(input: OpenedInput, direction: Direction, output: Output, job: ConversionJob): Promise<void> {
  const settled = settleDirection(direction, job);
  if (settled.startsWith('raw->') && job.chain.ignoreLinkage) throw new UsageError('--ignore-linkage applies to a VHDX input only');
  // --parent with a raw input or a VHDX without a parent: a differencing child over it, holding only what differs
  const child = await childInput(input, settled, job);
  if (child && job.chain.parent !== undefined) {
    await toChild(input, child.image, settled, output, job.chain.parent, job);
    return;
  }
  if (settled === 'vhdx->raw' && job.create.virtualSize !== undefined) {
    throw new UsageError("--size does not apply to VHDX -> raw: the raw disk is as large as the VHDX's virtual disk");
  }
  // an output written in place (a file with several hard links) must not be the input under another name
  if (input.kind === 'path' && output.kind === 'file') await refuseSameFile(input.input.path, output.path);
  await refuseChainOutputs(input, settled, output, job);
  await job.refuseReplacingParent();
  await run(input.kind, input.input, settled, output.kind, output, job);
}

/**
 * Refuses an output that would replace a file the input reads through: a parent of a differencing
 * input (found from its path, or the --parent file and its own parents when it is streamed), or,
 * for standard output redirected into a file, the input file itself.
 * @throws VhdxError 'output-is-input'
 */
async function refuseChainOutputs(input: OpenedInput, settled: Direction, output: Output, job: ConversionJob): Promise<void> {
  const target = output.kind === 'file' ? output.name : redirectedStdout();
  if (target === undefined) return;
  if (output.kind === 'stdout' && input.kind === 'path' && (await isSameFile(input.input.path, target))) {
    throw new VhdxError('output-is-input', `standard output is the input file ${input.input.path}; converting in place would destroy it`);
  }
  if (!settled.startsWith('vhdx->')) return;
  if (input.kind === 'path') await refuseOutputInChain(await job.openImage(input.input.path), target, { role: 'input' });
  else if (job.chain.parent !== undefined) {
    const parent = await job.openImage(job.chain.parent, { followChain: false });
    await refuseOutputInChain(parent, target, { role: 'input', levelOffset: 1 });
  }
}

/** The file standard output was redirected into (`> f`, `1<> f`, `>> f`), as a path; undefined for anything else. */
function redirectedStdout(): string | undefined {
  try {
    return fstatSync(1).isFile() ? '/dev/stdout' : undefined;
  } catch {
    return undefined;
  }
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
