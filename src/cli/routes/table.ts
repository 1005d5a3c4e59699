// Which route converts what: one entry for every (input kind, direction,
// output kind) the command accepts. The direction is decided once, here:
// from the input's first bytes (or -f), the output format (-O/--to, or the
// output's name) and --parent, which makes a child of a raw input or of a
// VHDX without a parent; the table is the only place that decides the rest.
import { fstatSync } from 'node:fs';
import { VhdxError } from '../../errors.js';
import { refuseOutputInChain } from '../../node/chain-output.js';
import { isSameFile, refuseSameFile } from '../../node/file-io.js';
import { UsageError } from '../usage-error.js';
import { formatOf, type InputKind, type OpenedInput } from '../inputs.js';
import type { Output, OutputKind } from '../sinks.js';
import type { S3Output } from '../s3.js';
import { convertToS3 } from './to-s3.js';
import { convertInParallel, refuseParallel } from './parallel.js';
import { rawFileToRawFile, rawFileToRawStdout, rawStreamToRaw, rawUrlToRaw } from './raw-to-raw.js';
import { rawFileToVhdxFile, rawFileToVhdxStdout, rawStreamToVhdxFile, rawStreamToVhdxStdout, rawUrlToVhdx } from './raw-to-vhdx.js';
import {
  hasOwnParent,
  rawChildToStdout,
  rawFileToChild,
  rawStreamToChild,
  rawUrlToChild,
  vhdxChildToStdout,
  vhdxFileToChild,
  vhdxStreamToChild,
  vhdxUrlToChild,
} from './to-child.js';
import type { ConversionJob, Direction, ImageFormat, OutputOfKind, Route } from './types.js';
import { vhdxFileToRawFile, vhdxFileToRawStdout, vhdxStreamToRaw, vhdxUrlToRaw } from './vhdx-to-raw.js';
import { vhdxFileToVhdx, vhdxStreamToVhdx, vhdxUrlToVhdx } from './vhdx-to-vhdx.js';

export type RouteTable = { readonly [I in InputKind]: { readonly [D in Direction]: { readonly [O in OutputKind]: Route<I, O> } } };

export const ROUTES: RouteTable = {
  path: {
    'raw->vhdx': { file: rawFileToVhdxFile, stdout: rawFileToVhdxStdout },
    'raw->raw': { file: rawFileToRawFile, stdout: rawFileToRawStdout },
    'raw->child': { file: rawFileToChild, stdout: rawChildToStdout },
    'vhdx->raw': { file: vhdxFileToRawFile, stdout: vhdxFileToRawStdout },
    'vhdx->vhdx': { file: vhdxFileToVhdx, stdout: vhdxFileToVhdx },
    'vhdx->child': { file: vhdxFileToChild, stdout: vhdxChildToStdout },
  },
  stdin: {
    'raw->vhdx': { file: rawStreamToVhdxFile, stdout: rawStreamToVhdxStdout },
    'raw->raw': { file: rawStreamToRaw, stdout: rawStreamToRaw },
    'raw->child': { file: rawStreamToChild, stdout: rawChildToStdout },
    'vhdx->raw': { file: vhdxStreamToRaw, stdout: vhdxStreamToRaw },
    'vhdx->vhdx': { file: vhdxStreamToVhdx, stdout: vhdxStreamToVhdx },
    'vhdx->child': { file: vhdxStreamToChild, stdout: vhdxChildToStdout },
  },
  url: {
    'raw->vhdx': { file: rawUrlToVhdx, stdout: rawUrlToVhdx },
    'raw->raw': { file: rawUrlToRaw, stdout: rawUrlToRaw },
    'raw->child': { file: rawUrlToChild, stdout: rawChildToStdout },
    'vhdx->raw': { file: vhdxUrlToRaw, stdout: vhdxUrlToRaw },
    'vhdx->vhdx': { file: vhdxUrlToVhdx, stdout: vhdxUrlToVhdx },
    'vhdx->child': { file: vhdxUrlToChild, stdout: vhdxChildToStdout },
  },
};

const OTHER: Record<ImageFormat, ImageFormat> = { raw: 'vhdx', vhdx: 'raw' };

/**
 * The direction for an input starting with `head`, without --parent: read as -f says, else as its
 * first bytes say; written as the output format the job settled (-O, or the output's name), else as
 * the other format.
 * @throws UsageError for an empty input when nothing says what it is or what to make
 */
export function directionFor(head: Uint8Array, job: Pick<ConversionJob, 'inputFormat' | 'outputFormat'>): Direction {
  if (job.inputFormat === undefined && job.outputFormat === undefined && head.length === 0) throw new UsageError('the input is empty');
  const from = formatOf(head, job.inputFormat);
  return `${from}->${job.outputFormat ?? OTHER[from]}`;
}

/**
 * The one direction decision: {@link directionFor}, except that --parent makes a child of a raw input
 * and of a VHDX without a parent of its own (for a differencing VHDX it names the input's first parent,
 * and the chain is flattened).
 * @throws UsageError as directionFor; for a child asked to be raw, or --ignore-linkage with a raw input
 */
export async function decideDirection(input: OpenedInput, job: ConversionJob): Promise<Direction> {
  const plain = directionFor(input.head, job);
  const from = plain.startsWith('raw->') ? 'raw' : 'vhdx';
  if (from === 'raw' && job.chain.ignoreLinkage) throw new UsageError('--ignore-linkage applies to a VHDX input only');
  if (job.chain.parent === undefined || (from === 'vhdx' && (await hasOwnParent(input, job)))) return plain;
  if (job.outputFormat === 'raw') {
    const what = from === 'raw' ? 'a raw input' : 'a VHDX input without a parent';
    throw new UsageError(`--parent with ${what} makes a differencing child: the output must be VHDX`);
  }
  return `${from}->child`;
}

/**
 * Runs the route for `input` to `output` in the direction {@link decideDirection} gives.
 * @throws UsageError as decideDirection; what --parallel does not do (refuseParallel); --size with VHDX -> raw (the raw disk is the VHDX's size); VhdxError
 *   'output-is-input' when the output is written in place and is the input file, or a file the input reads
 *   through; 'output-has-children' (without --force); what the route throws
 */
export async function runRoute(input: OpenedInput, output: Output | S3Output, job: ConversionJob): Promise<void> {
  const direction = await decideDirection(input, job);
  if (direction === 'vhdx->raw' && job.create.virtualSize !== undefined) {
    throw new UsageError("--size does not apply to VHDX -> raw: the raw disk is as large as the VHDX's virtual disk");
  }
  if (job.parallel !== undefined) refuseParallel(input, direction, output);
  if (output.kind === 's3')
    return job.parallel !== undefined ? convertInParallel(input, output, job) : convertToS3(input, direction, output, job);
  // an output written in place (a file with several hard links) must not be the input under another name
  if (input.kind === 'path' && output.kind === 'file') await refuseSameFile(input.input.path, output.file.path);
  await refuseChainOutputs(input, direction, output, job);
  await job.refuseReplacingParent();
  if (job.parallel !== undefined) return convertInParallel(input, output, job);
  await run(input.kind, input.input, direction, output.kind, output, job);
}

/**
 * Refuses an output that would replace a file the input reads through: a parent of a differencing
 * input (found from its path, or the --parent file and its own parents when it is streamed), a file of
 * the --parent chain a child is written against, or, for standard output redirected into a file, the
 * input file itself.
 * @throws VhdxError 'output-is-input'
 */
async function refuseChainOutputs(input: OpenedInput, direction: Direction, output: Output, job: ConversionJob): Promise<void> {
  const target = output.kind === 'file' ? output.name : redirectedStdout();
  if (target === undefined) return;
  if (output.kind === 'stdout' && input.kind === 'path' && (await isSameFile(input.input.path, target))) {
    throw new VhdxError('output-is-input', `standard output is the input file ${input.input.path}; converting in place would destroy it`);
  }
  if (direction.endsWith('->child')) {
    // the file is written under a temporary name, so the name it will have is checked
    const parent = await job.openImage(job.chain.parent!, { followChain: false });
    await refuseOutputInChain(parent, target, { role: 'parent' });
    return;
  }
  if (!direction.startsWith('vhdx->')) return;
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
