// `vhdx info` on a raw disk image, as `qemu-img info` shows one: its format
// and size (the bytes of the file are the disk), rather than "not a VHDX".
// Only an input that can be looked at before it is read is checked here (a
// file, a URL with Range, stdin redirected from a file); a pipe goes to the
// VHDX reader, which says what it found.
import { openNodeSource } from '../node/file-source.js';
import type { ChainFlags } from './args.js';
import { EXIT } from './exit-codes.js';
import { imageInput } from './image-input.js';
import { formatOf, resolveInput, stdinAsFile } from './inputs.js';
import { human } from './report.js';
import { UsageError } from './usage-error.js';

/**
 * Prints `info` for `arg` when it is a raw disk (no VHDX signature) and returns the exit code;
 * undefined when it is a VHDX, a stream, or a URL without Range (the VHDX report reads those).
 * @throws UsageError for --parent or --ignore-linkage with a raw disk (they apply to a differencing VHDX);
 *   VhdxError `open-failed` as the VHDX report would
 */
export async function rawInfo(arg: string, json: boolean, chain: ChainFlags): Promise<number | undefined> {
  const resolved = resolveInput(arg);
  if (resolved.kind === 'stdin' && !stdinAsFile()) return undefined;
  const input = await imageInput(arg, 'info');
  const source = await openNodeSource(input.source).catch(() => undefined);
  if (!source) return undefined;
  let head: Uint8Array;
  try {
    head = await source.read(0, Math.min(8, source.size));
  } finally {
    await source.close?.();
  }
  if (formatOf(head) === 'vhdx') return undefined;
  if (chain.parent !== undefined || chain.ignoreLinkage) {
    throw new UsageError(
      `${chain.parent !== undefined ? '--parent' : '--ignore-linkage'} applies to a differencing VHDX; ${arg} is a raw disk`,
    );
  }
  const size = source.size;
  const bytes = (n: number | undefined) => (n === undefined ? 'unknown' : `${human(n)} (${n} bytes)`);
  const text = json
    ? JSON.stringify({ image: input.name, format: 'raw', virtualSize: size, diskSize: input.diskSize ?? null }, null, 2)
    : [
        `image:             ${input.name}`,
        'file format:       raw',
        `virtual size:      ${bytes(size)}`,
        `disk size:         ${bytes(input.diskSize)}`,
      ].join('\n');
  process.stdout.write(`${text}\n`);
  return EXIT.success;
}
