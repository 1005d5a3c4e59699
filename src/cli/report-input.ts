// What `vhdx info` and `vhdx check` read: a file, or a URL with Range
// support, is opened for random access and checked as a whole; standard
// input, a FIFO or a URL whose server ignores Range is streamed once through
// the decoder, which needs only bounded memory. Standard input that is a
// regular file (`< a.vhdx`) is read as the file it is.
import { asVhdxError } from '../errors.js';
import { problemOf, type Problem, type VhdxInfo } from '../image/types.js';
import { decodeVhdxChunks } from '../node/decode-chunks.js';
import { checkVhdx } from '../node/index.js';
import { chunksOf } from './chunk-streams.js';
import { classifyInput, fetchStream, openInput } from './inputs.js';
import { ignoresRange } from './routes/vhdx-to-raw.js';

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
  /** The file read, for a path input (standard input as a file is `/dev/stdin`). */
  path?: string;
}

/** Options of {@link openForReport}. */
export interface ReportOptions {
  /** Read a streamed input to its end, so that missing or damaged payload is found (for `check`); default true. */
  whole?: boolean;
}

/** Thrown from the decoder's output once the structures are in and the rest is not wanted. */
const ENOUGH = Symbol('enough');

/**
 * Reads the VHDX named by `arg` (a path, `-`, or an http(s) URL) for `info` or `check`.
 * @throws VhdxError IO when the input cannot be read at all ('open-failed', 'read-failed',
 *   'request-failed', 'http-status', ...); every other failure is a problem in the result
 */
export async function openForReport(arg: string, options: ReportOptions = {}): Promise<ReportInput> {
  const whole = options.whole ?? true;
  const classified = classifyInput(arg);
  if (classified.kind === 'url') {
    try {
      return { ...(await randomReport(classified.url)), access: 'random' };
    } catch (err) {
      if (!ignoresRange(err)) throw err;
      return streamedReport(chunksOf((await fetchStream(classified.url)).stream), whole);
    }
  }
  const opened = await openInput(classified);
  if (opened.kind === 'path') return { ...(await randomReport(opened.input.path)), access: 'random', path: opened.input.path };
  if (opened.kind === 'stdin') return streamedReport(opened.input.chunks, whole);
  return { ...(await randomReport(opened.input.url)), access: 'random' };
}

async function randomReport(input: string): Promise<{ info: VhdxInfo | undefined; problems: Problem[] }> {
  const report = await checkVhdx(input);
  return { info: report.info, problems: report.problems };
}

async function streamedReport(chunks: AsyncIterable<Uint8Array>, whole: boolean): Promise<ReportInput> {
  let info: VhdxInfo | undefined;
  const discard = async () => {
    if (!whole) throw ENOUGH;
  };
  try {
    await decodeVhdxChunks(chunks, discard, { onInfo: (i) => (info = i) });
    return { info, problems: [], access: 'stream' };
  } catch (err) {
    if (err === ENOUGH) return { info, problems: [], access: 'stream' };
    const e = asVhdxError(err, 'read-failed', 'cannot read the input');
    if (e.code === 'IO') throw e;
    return { info, problems: [problemOf(e)], access: 'stream' };
  }
}
