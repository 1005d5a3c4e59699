// What `vhdx info` and `vhdx check` read: a file (standard input redirected
// from one included), or a URL with Range support, is opened for random access
// and checked as a whole; standard input that is a pipe, a FIFO or a URL whose
// server ignores Range is streamed once through the decoder, which needs only
// bounded memory.
import { stat } from 'node:fs/promises';
import { VhdxError, asVhdxError } from '../errors.js';
import { problemOf, type Problem, type VhdxInfo } from '../image/types.js';
import { decodeVhdxChunks } from '../node/decode-chunks.js';
import { checkVhdx } from '../node/index.js';
import { chunksOf } from '../runtime/stream-chunks.js';
import { imageInput, type ImageInput } from './image-input.js';
import { fetchStream, openInput, resolveInput, stdinAsFile } from './inputs.js';
import { ignoresRange } from './routes/vhdx-to-raw.js';
import { chainOptions, type ChainFlags } from './chain.js';
import { UsageError } from './usage-error.js';

/** A VHDX as the reports see it. */
export interface ReportInput {
  /** What the image holds, when its structures could be read. */
  info: VhdxInfo | undefined;
  /** Every problem found, in order; empty for a valid file. */
  problems: Problem[];
  /**
   * 'random': read at positions, every structure checked. 'stream': one pass
   * in file order; only what stops decoding is found, and with `whole` false
   * the reading stopped once the structures had passed.
   */
  access: 'random' | 'stream';
  /** The input as the user named it, and the bytes it takes on the host's disk when known. */
  input: Pick<ImageInput, 'name' | 'diskSize'>;
}

/** Options of {@link openForReport}. */
export interface ReportOptions {
  /** Read a streamed input to its end, so that missing or damaged payload is found (for `check`); default true. */
  whole?: boolean;
  /** How a differencing file's chain is followed (--parent, --ignore-linkage). */
  chain?: ChainFlags;
}

/** Thrown from the decoder's output once the structures are in and the rest is not wanted. */
const ENOUGH = Symbol('enough');

/**
 * Reads the VHDX named by `arg` (a path, `-`, an http(s) or s3:// URL) for `info`
 * (`whole: false`) or `check`.
 * @throws UsageError for --parent with a file that has no parent; VhdxError IO when the input cannot be read
 *   at all ('open-failed', also for a directory; 'read-failed', 'request-failed', 'http-status', ...); every
 *   other failure is a problem in the result
 */
export async function openForReport(arg: string, options: ReportOptions = {}): Promise<ReportInput> {
  const report = await readForReport(arg, options);
  // --parent names a differencing file's parent: with any other file it would be silently ignored
  if (options.chain?.parent !== undefined && report.info && report.info.parentLocator === undefined) {
    throw new UsageError(`--parent names the parent of a differencing VHDX; ${arg} has no parent`);
  }
  return report;
}

async function readForReport(arg: string, options: ReportOptions): Promise<ReportInput> {
  const whole = options.whole ?? true;
  const unnamed = { name: arg, diskSize: undefined };
  const resolved = resolveInput(arg);
  if (resolved.kind === 'url') {
    try {
      return { ...(await randomReport(resolved.url, options.chain, resolved.fetch)), access: 'random', input: unnamed };
    } catch (err) {
      if (!ignoresRange(err)) throw err;
      const fetched = await fetchStream(resolved);
      return streamedReport(chunksOf(fetched.stream), whole, unnamed, fetched.size);
    }
  }
  if (resolved.kind === 'stdin' ? !stdinAsFile() : await isStream(resolved.path)) {
    const opened = await openInput(resolved);
    if (opened.kind === 'stdin') return streamedReport(opened.input.chunks, whole, unnamed);
  }
  const input = await imageInput(arg, whole ? 'check' : 'info');
  return { ...(await randomReport(input.source, options.chain)), access: 'random', input };
}

/**
 * A differencing file read as a stream: its parents are found at random
 * offsets beside it, which a pipe has not. A usage mistake: the same file given by path works.
 */
function streamedChild(name: string): UsageError {
  return new UsageError(
    `${name} is a differencing VHDX: its chain cannot be followed from a stream; give its path (its parents are looked for beside it)` +
      ' or redirect stdin from the file with --parent',
  );
}

/**
 * A streamed check stopped by a memory bound (BAT, bitmaps or blocks too far after the payload, structures larger
 * than the read limits): the file may well be valid, so this is no problem found but a check not done.
 */
function checkIncomplete(name: string, err: VhdxError): VhdxError {
  const why =
    err.reason === 'reorder-buffer-full'
      ? 'its BAT, sector bitmaps or blocks come too far from where they are needed to be checked in one pass with bounded memory'
      : `it needs more memory than a streamed check may use (${err.message})`;
  return new VhdxError(
    'check-incomplete',
    `could not check ${name}: ${why}; give the file by its path (or a URL that takes Range requests), which is read at random`,
    {
      ...(err.structure !== undefined ? { structure: err.structure } : {}),
      ...(err.offset !== undefined ? { offset: err.offset } : {}),
      cause: err,
    },
  );
}

/** Whether `path` names a FIFO, socket or character device (read once, in order). */
async function isStream(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  return !!st && (st.isFIFO() || st.isSocket() || st.isCharacterDevice());
}

async function randomReport(
  source: string,
  chain: ChainFlags | undefined,
  fetch?: typeof globalThis.fetch,
): Promise<{ info: VhdxInfo | undefined; problems: Problem[] }> {
  const report = await checkVhdx(source, { ...chainOptions(chain), ...(fetch ? { fetch } : {}) });
  return { info: report.info, problems: report.problems };
}

/** Reads a streamed VHDX once; `size`: the length its server announced (a stream does not know it otherwise). */
async function streamedReport(
  chunks: AsyncIterable<Uint8Array>,
  whole: boolean,
  input: ReportInput['input'],
  size?: number,
): Promise<ReportInput> {
  let info: VhdxInfo | undefined;
  const discard = async () => {
    if (!whole) throw ENOUGH;
  };
  const onInfo = (i: VhdxInfo) => {
    info = i;
    if (i.fileSize === undefined && size !== undefined) i.fileSize = size;
  };
  try {
    await decodeVhdxChunks(chunks, discard, { onInfo });
    return { info, problems: [], access: 'stream', input };
  } catch (err) {
    if (err === ENOUGH) return { info, problems: [], access: 'stream', input };
    const name = input.name === '-' ? 'standard input' : input.name;
    const e = asVhdxError(err, 'read-failed', `cannot read ${name}`);
    if (e.reason === 'parent-missing') throw streamedChild(name);
    if (e.code === 'IO') throw e;
    if (whole && e.code === 'LIMIT_EXCEEDED') throw checkIncomplete(name, e);
    return { info, problems: [problemOf(e)], access: 'stream', input };
  }
}
