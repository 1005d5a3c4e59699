// A differencing VHDX read as a stream (stdin, a FIFO, a URL without Range):
// its parents cannot be looked for beside it, so --parent names the first
// one, opened for random access (its own parents found by its locator) and
// handed to the decoder.
import { VhdxError } from '../../errors.js';
import type { VhdxInfo } from '../../image/types.js';
import type { VhdxDecoderOptions } from '../../streams/decoder-core.js';
import { warnStreamedLinkage } from '../chain.js';
import { UsageError } from '../usage-error.js';
import type { ConversionJob } from './types.js';

/** The decoder options a streamed input's chain needs, and what to do once the decoder knows the file. */
export interface StreamChain {
  options: Pick<VhdxDecoderOptions, 'parent' | 'ignoreLinkage'>;
  /**
   * Call with the decoder's info: warns about a parent accepted with --ignore-linkage.
   * @throws UsageError for --parent with a VHDX that has no parent
   */
  onInfo(info: VhdxInfo): void;
}

/** Opens --parent, when given, for the decoder (closed with the job). */
export async function streamChain(job: ConversionJob): Promise<StreamChain> {
  const parent = job.chain.parent === undefined ? undefined : await job.openImage(job.chain.parent, { followChain: false });
  return {
    options: { ...(parent ? { parent } : {}), ...(job.chain.ignoreLinkage ? { ignoreLinkage: true } : {}) },
    onInfo(info) {
      // a VHDX without a parent of its own makes a child of --parent, which a stream cannot feed here
      if (parent && info.parentLocator === undefined) throw streamedPlainWithParent();
      warnStreamedLinkage(info, parent?.info);
    },
  };
}

/** --parent with a VHDX that has no parent, read as a stream: the child it asks for is made from a file. */
function streamedPlainWithParent(): UsageError {
  return new UsageError(
    '--parent with a VHDX that has no parent of its own makes a differencing child of it, which is made from the VHDX file: ' +
      'give it by its path (or a URL that takes Range requests)',
  );
}

/**
 * The decoder's refusals that the command line can say better: a differencing file without a parent
 * (give --parent), and a file whose blocks are too far out of order to stream (give its path: the
 * library's maxBufferBytes is not a command-line option).
 * @returns `err` itself for anything else
 */
export function explainStreamed(err: unknown, job: ConversionJob): unknown {
  if (!(err instanceof VhdxError)) return err;
  if (err.reason === 'reorder-buffer-full') {
    return new VhdxError(
      'reorder-buffer-full',
      'the VHDX read as a stream stores its blocks too far out of order to be converted in one pass with bounded memory; ' +
        'give the file by its path (or a URL that takes Range requests), which is read at random',
      { structure: 'payload', ...(err.offset !== undefined ? { offset: err.offset } : {}) },
    );
  }
  if (err.reason !== 'parent-missing' || job.chain.parent !== undefined) return err;
  return new VhdxError(
    'parent-missing',
    'the input is a differencing VHDX read as a stream: its parents cannot be looked for beside it; give --parent PATH, or the file by its path',
    { structure: 'parent locator' },
  );
}
