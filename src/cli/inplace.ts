// The in-place commands (compact; issue 20): the command line mapped to the
// library's options, the result printed. The library owns every rule.
import { VhdxError } from '../errors.js';
import type { GuestReport } from '../guest/types.js';
import { commitVhdx, compactVhdx, openVhdx, resizeVhdx, setParent, type ResizeResult } from '../node/index.js';
import { bareMessage } from './messages.js';
import { Progress } from '../node/progress.js';
import { ready } from '../wasm/instance.js';
import { chainOptions } from './chain.js';
import { EXIT } from './exit-codes.js';
import type { InPlaceCommand } from './inplace-options.js';
import { human } from './report.js';

/** Runs an in-place command; returns the exit code. */
export async function runInPlace(command: InPlaceCommand): Promise<number> {
  await ready();
  if (command.name === 'resize') return resize(command);
  if (command.name === 'commit') {
    const bar = command.progress ? new Progress(process.stderr) : undefined;
    const result = await commitVhdx(command.file, {
      ...(command.base !== undefined ? { base: command.base } : {}),
      remove: command.remove,
      force: command.force,
      ...(bar ? { onProgress: (done: number, total: number) => bar.update(done, total) } : {}),
    }).catch((err: unknown) => {
      // the library names its option; the command line names the flag
      if (err instanceof VhdxError && err.reason === 'base-not-in-chain')
        throw new VhdxError(err.reason, `-b ${bareMessage(err.message, err)}`);
      throw err;
    });
    bar?.done();
    const after = command.remove ? 'removed' : 'left empty';
    const into = command.base ?? 'its parent';
    process.stdout.write(`${command.file}: ${result.blocksCommitted} blocks committed into ${into}; the child ${after}\n`);
    return EXIT.success;
  }
  if (command.name === 'set-parent') {
    const result = await setParent(command.file, command.chain.parent!, { ignoreLinkage: command.chain.ignoreLinkage });
    const relinked = result.relinked ? ' (linked to the parent as it is now)' : '';
    process.stdout.write(`${command.file}: parent ${result.entries.relative_path}${relinked}\n`);
    return EXIT.success;
  }
  const bar = command.progress && !command.dryRun ? new Progress(process.stderr) : undefined;
  const result = await compactVhdx(command.file, {
    ...chainOptions(command.chain),
    dryRun: command.dryRun,
    fsTrim: command.fsTrim,
    ...(bar ? { onProgress: (done: number, total: number) => bar.update(done, total) } : {}),
  });
  bar?.done();
  if (result.fsTrim && !command.json) process.stdout.write(guestLines(result.fsTrim, result.dryRun));
  if (command.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return EXIT.success;
  }
  const verb = result.dryRun ? 'would reclaim' : 'reclaimed';
  process.stdout.write(
    `${command.file}: ${verb} ${result.reclaimedBytes} bytes (${human(result.reclaimedBytes)}); file ${result.fileSizeBefore} -> ${result.fileSizeAfter} bytes\n` +
      `  blocks freed: ${result.blocksFreed} (${result.zeroBlocks} all zero), sector bitmaps freed: ${result.bitmapsFreed}, blocks moved: ${result.blocksMoved}\n`,
  );
  return EXIT.success;
}

async function resize(command: Extract<InPlaceCommand, { name: 'resize' }>): Promise<number> {
  const image = await openVhdx(command.file);
  const current = image.info.virtualSize;
  await image.close();
  const size = command.relative ? current + command.size : command.size;
  let result: ResizeResult;
  try {
    result = await resizeVhdx(command.file, size, { shrink: command.shrink });
  } catch (err) {
    throw inFlags(err, size, current);
  }
  const moved = result.batMoved ? ' (the BAT moved to the end of the file)' : '';
  process.stdout.write(`${command.file}: ${result.sizeBefore} -> ${result.sizeAfter} bytes (${human(result.sizeAfter)})${moved}\n`);
  return EXIT.success;
}

/** The library's resize refusals about the size, in the command line's words. */
function inFlags(err: unknown, size: number, current: number): unknown {
  if (!(err instanceof VhdxError) || err.structure !== 'options') return err;
  if (err.reason === 'shrink-not-requested') {
    return new VhdxError(
      err.reason,
      `${size} bytes is smaller than the disk's ${current}: add --shrink to cut its end off (refused when that range holds data)`,
    );
  }
  return new VhdxError(err.reason, `the size ${bareMessage(err.message, err).replace(/^the new size /, '')}`);
}

/** What --fs-trim found inside the disk, a line a partition: where, which filesystem, what became of it. */
function guestLines(report: GuestReport, dryRun: boolean): string {
  const lines = [`filesystems (partition table: ${report.table}):`];
  for (const p of report.partitions) {
    const where = `${p.index === 0 ? 'whole disk' : `partition ${p.index}`}${p.name ? ` (${p.name})` : ''} at ${p.offset}, ${human(p.length)}`;
    const v = p.verdict;
    const what =
      v.kind === 'trimmed'
        ? `${human(v.freeBytes)} unused; the blocks wholly inside it ${dryRun ? 'would be' : 'were'} discarded`
        : v.kind === 'refused'
          ? `refused (${v.reason}): ${v.message}; left as it is`
          : `skipped: ${v.message}`;
    lines.push(`  ${where}: ${p.filesystem}, ${what}`);
  }
  return `${lines.join('\n')}\n`;
}
