// One conversion's lifetime around its route. What the command line says
// about the output is settled before any work: its name must not be empty
// or contradict -O, and --size must be a whole number of sectors. The output
// is written under a temporary name and put in place only when the route
// succeeds (see src/node/output.ts); a failure removes it, and so does Ctrl-C
// or a kill, after which the process dies of the same signal. Progress is
// drawn on stderr; every VHDX the route opened is closed at the end,
// whatever happens.
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { VhdxError, asVhdxError } from '../errors.js';
import { checkVirtualSize } from '../layout/disk-size.js';
import type { VhdxImage } from '../image/image.js';
import { openVhdx } from '../node/index.js';
import { refuseReplacingParent } from '../node/chain-output.js';
import { prepareOutput, type OutputFile } from '../node/output.js';
import { Progress } from '../node/progress.js';
import type { ConvertFlags } from './args.js';
import { UsageError } from './usage-error.js';
import { resolveOutput } from './inputs.js';
import { STDOUT, type Output } from './sinks.js';
import { isS3Url, s3Location, s3ObjectExists, type S3Output } from './s3.js';
import { chainOptions, warnLinkage } from './chain.js';
import type { ConversionJob, ImageFormat } from './routes/types.js';

/** Signals that end a conversion with its temporary output removed: Ctrl-C, kill, a closed terminal. */
const CLEANUP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Names of formats this tool does not write: an output named so gets VHDX or raw only when -O asks. */
const OTHER_FORMATS: Record<string, string> = {
  '.vhd': 'VHD',
  '.vmdk': 'VMDK',
  '.qcow2': 'qcow2',
  '.qcow': 'qcow',
  '.vdi': 'VDI',
  '.qed': 'QED',
  '.hdd': 'Parallels',
  '.gz': 'gzip',
  '.xz': 'xz',
  '.zst': 'zstd',
  '.bz2': 'bzip2',
  '.zip': 'zip',
  '.7z': '7z',
};

/** Output names that say their format, as qemu-img users name them. */
const FORMAT_OF_EXTENSION: Record<string, ImageFormat> = { '.vhdx': 'vhdx', '.avhdx': 'vhdx', '.raw': 'raw', '.img': 'raw', '.bin': 'raw' };

/** The format an output's name stands for (`.vhdx`, `.avhdx`; `.raw`, `.img`, `.bin`), if any. */
export function formatOfName(name: string): ImageFormat | undefined {
  return name === '-' ? undefined : FORMAT_OF_EXTENSION[extname(name).toLowerCase()];
}

/**
 * The output format: -O/--to when given, else the output's name, else
 * undefined (for stdout, a device or a FIFO: the other format of the input; a file is refused).
 * @throws UsageError for an empty output name, a name that contradicts -O, or a name of another
 *   image or archive format (.vhd, .vmdk, .qcow2, .gz, …) without -O
 */
export function outputFormatFor(outArg: string, to: ImageFormat | undefined): ImageFormat | undefined {
  if (outArg === '') throw new UsageError('the output name is empty');
  const other = outArg === '-' ? undefined : OTHER_FORMATS[extname(outArg).toLowerCase()];
  if (other && !to) {
    throw new UsageError(
      `the output ${outArg} is named as ${other}, which this tool does not write: name it .vhdx or .raw, or give -O vhdx|raw to write that under this name`,
    );
  }
  const named = formatOfName(outArg);
  if (to && named && to !== named) {
    throw new UsageError(`the output ${outArg} is named as ${named} but -O/--to asks for ${to}: rename it or drop -O`);
  }
  return to ?? named;
}

/**
 * Runs `route` with the output named `outArg` (`-` for stdout) and the job
 * `flags` describe, then commits or discards the output.
 * @throws UsageError for an empty output name, a name that contradicts -O, a file output whose name says no
 *   format without -O, a --size that is not whole sectors (all before any work); whatever the route throws; VhdxError 'create-failed' when the output cannot be
 *   created or put in place (an existing file the user may not write included)
 */
export async function runConversion(
  outArg: string,
  flags: ConvertFlags,
  route: (output: Output | S3Output, job: ConversionJob) => Promise<void>,
): Promise<void> {
  const outputFormat = outputFormatFor(outArg, flags.to);
  // the sector of a re-encoded VHDX may follow the input's; whole 512-byte sectors at least, before any work
  checkVirtualSize(flags.virtualSize, flags.logicalSectorSize ?? 512);
  const s3 = isS3Url(outArg) ? s3Location(outArg) : undefined;
  const outPath = s3 ? outArg : resolveOutput(outArg);
  if (outputFormat === undefined && outPath !== '-' && (s3 || !(await isStreamOutput(outPath)))) {
    throw new UsageError(
      `the output ${outArg} does not say its format (.vhdx, .avhdx; .raw, .img, .bin): give -O raw|vhdx to write it under this name`,
    );
  }
  if (s3 && !flags.force && (await s3ObjectExists(s3, outArg))) {
    throw new VhdxError('output-exists', `${outArg} exists: an s3:// output replaces an object only with --force`);
  }
  const prepared = outPath === '-' || s3 ? undefined : await prepareOutput(outPath);
  const uploadStop = new AbortController();
  // a file: URL is named by its path from here on: the checks compare files by path
  const output: Output | S3Output = s3
    ? {
        kind: 's3',
        name: outArg,
        location: { ...s3, ...(flags.s3Checksum ? { checksum: flags.s3Checksum } : {}) },
        signal: uploadStop.signal,
      }
    : outputOf(outPath, prepared);
  let interrupted: NodeJS.Signals | undefined;
  // shells and callers expect an interrupted command to die of its signal
  const onSignal = (signal: NodeJS.Signals) => {
    for (const s of CLEANUP_SIGNALS) process.off(s, onSignal);
    if (s3) {
      // the upload is aborted on the store first (no object, no open upload); the process dies of the signal after
      interrupted = signal;
      uploadStop.abort(new VhdxError('cancelled', `interrupted by ${signal}`));
      return;
    }
    prepared?.discardSync();
    process.kill(process.pid, signal);
  };
  for (const s of CLEANUP_SIGNALS) process.once(s, onSignal);
  const progress = flags.progress ? new Progress(process.stderr) : undefined;
  const images: VhdxImage[] = [];
  const opened = new Map<string, Promise<VhdxImage>>();
  const {
    to: _to,
    progress: _progress,
    quiet,
    force: _force,
    parallel,
    s3Checksum: _s3Checksum,
    inputFormat,
    chain = { ignoreLinkage: false },
    ...create
  } = flags;
  const job: ConversionJob = {
    create,
    chain,
    parallel,
    async refuseReplacingParent() {
      if (output.kind === 'file' && !flags.force) await refuseReplacingParent(outPath).catch(mentionForce);
    },
    inputFormat,
    outputFormat,
    onProgress: progress ? (done, total) => progress.update(done, total) : undefined,
    notice: (text) => void (quiet ? undefined : process.stderr.write(`vhdx: note: ${text}\n`)),
    openImage(source, options = { followChain: true }) {
      // one image per path and way of following its chain: a route and its checks share it (and its warning)
      const url = typeof source === 'object' && 'url' in source ? source : undefined;
      const target = url ? url.url : (source as string | Uint8Array);
      const http = url?.fetch ? { fetch: url.fetch } : {};
      const key = typeof target === 'string' ? `${options.followChain}:${target}` : undefined;
      const known = key === undefined ? undefined : opened.get(key);
      if (known) return known;
      const opening = (async () => {
        const image = await openVhdx(target, { ...(options.followChain ? chainOptions(chain) : {}), ...http });
        images.push(image);
        if (options.followChain) warnLinkage(image.info);
        return image;
      })();
      if (key !== undefined) opened.set(key, opening);
      return opening;
    },
  };
  try {
    await route(output, job);
  } catch (err) {
    await prepared?.discard();
    throw err;
  } finally {
    for (const s of CLEANUP_SIGNALS) process.off(s, onSignal);
    for (const image of images) await image.close().catch(() => {});
    progress?.done();
    if (interrupted) process.kill(process.pid, interrupted);
  }
  try {
    await prepared?.commit();
  } catch (err) {
    await prepared?.discard();
    throw asVhdxError(err, 'create-failed', `cannot put ${outArg} in place`);
  }
}

/** The library's refusal to replace a parent, with the flag that overrides it. */
function mentionForce(err: unknown): never {
  if (err instanceof VhdxError && err.reason === 'output-has-children') {
    throw new VhdxError(err.reason, `${err.message} (--force replaces it anyway)`);
  }
  throw err;
}

/** Whether `path` is a device, FIFO or socket (written in order, as stdout is), not a regular file or nothing. */
async function isStreamOutput(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && !st.isFile() && !st.isDirectory();
}

/** A file of ours (a temporary name, or a multiply linked file in place), or a stream: stdout, a device, a FIFO. */
function outputOf(outArg: string, prepared: OutputFile | undefined): Output {
  if (!prepared) return STDOUT;
  if (prepared.placement === 'device') return { kind: 'stdout', path: prepared.path, name: outArg };
  return { kind: 'file', name: outArg, file: prepared };
}
