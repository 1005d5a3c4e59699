// One conversion's lifetime around its route. The output is written under a
// temporary name and put in place only when the route succeeds; a failure
// removes it, and so does Ctrl-C or a kill, after which the process dies of
// the same signal. Progress is drawn on stderr; every VHDX the route opened
// is closed at the end, whatever happens.
import { asVhdxError } from '../errors.js';
import type { VhdxImage } from '../image/image.js';
import { openVhdx } from '../node/index.js';
import { prepareOutput } from '../node/output.js';
import { Progress } from '../node/progress.js';
import type { ConvertFlags } from './args.js';
import type { Output } from './sinks.js';
import type { ConversionJob } from './routes/types.js';

/**
 * Runs `route` with the output named `outArg` (`-` for stdout) and the job
 * `flags` describe, then commits or discards the output.
 * @throws whatever the route throws; VhdxError 'create-failed' when the output cannot be put in place
 */
export async function runConversion(
  outArg: string,
  flags: ConvertFlags,
  route: (output: Output, job: ConversionJob) => Promise<void>,
): Promise<void> {
  const prepared = outArg === '-' ? undefined : await prepareOutput(outArg);
  const output: Output = prepared ? { kind: 'file', path: prepared.path, name: outArg } : { kind: 'stdout' };
  // shells and callers expect an interrupted command to die of its signal
  const onSignal = (signal: NodeJS.Signals) => {
    prepared?.discardSync();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = flags.progress ? new Progress(process.stderr) : undefined;
  const images: VhdxImage[] = [];
  const { to: _to, progress: _progress, ...create } = flags;
  const job: ConversionJob = {
    create,
    onProgress: progress ? (done, total) => progress.update(done, total) : undefined,
    async openImage(source) {
      const image = await openVhdx(source);
      images.push(image);
      return image;
    },
  };
  try {
    await route(output, job);
  } catch (err) {
    await prepared?.discard();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const image of images) await image.close().catch(() => {});
    progress?.done();
  }
  try {
    await prepared?.commit();
  } catch (err) {
    await prepared?.discard();
    throw asVhdxError(err, 'create-failed', `cannot put ${outArg} in place`);
  }
}
