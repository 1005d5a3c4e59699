// The in-place commands (compact; issue 20): the command line mapped to the
// library's options, the result printed. The library owns every rule.
import { compactVhdx } from '../node/index.js';
import { Progress } from '../node/progress.js';
import { ready } from '../wasm/instance.js';
import { chainOptions } from './chain.js';
import { EXIT } from './exit-codes.js';
import type { InPlaceCommand } from './inplace-options.js';
import { human } from './report.js';

/** Runs an in-place command; returns the exit code. */
export async function runInPlace(command: InPlaceCommand): Promise<number> {
  await ready();
  const bar = command.progress && !command.dryRun ? new Progress(process.stderr) : undefined;
  const result = await compactVhdx(command.file, {
    ...chainOptions(command.chain),
    dryRun: command.dryRun,
    ...(bar ? { onProgress: (done: number, total: number) => bar.update(done, total) } : {}),
  });
  bar?.done();
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
