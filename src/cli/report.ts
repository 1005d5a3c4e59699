// `vhdx info` and `vhdx check`: what a VHDX holds and what is wrong with it,
// as a table for people or as JSON for scripts.
import type { VhdxInfo } from '../image/types.js';
import { checkVhdx, openVhdx } from '../node/index.js';
import { UsageError } from './args.js';
import { EXIT } from './exit-codes.js';

/** The stable JSON shape of `vhdx info --json`. */
export function infoJson(info: VhdxInfo): Record<string, unknown> {
  return {
    virtualSize: info.virtualSize,
    blockSize: info.blockSize,
    logicalSectorSize: info.logicalSectorSize,
    physicalSectorSize: info.physicalSectorSize,
    type: info.type,
    logDirty: info.log.state === 'dirty',
    log: { ...info.log },
    creator: info.creator,
    fileWriteGuid: info.fileWriteGuid,
    dataWriteGuid: info.dataWriteGuid,
    virtualDiskId: info.virtualDiskId,
    allocatedBlocks: info.allocatedBlocks,
    allocatedBytes: info.allocatedBytes,
    blockCount: info.blockCount,
    fileSize: info.fileSize,
    currentHeader: info.currentHeader,
    headerSequenceNumber: info.headerSequenceNumber.toString(),
    regions: info.regions.map((r) => ({ name: r.name, offset: r.offset, length: r.length })),
    ...(info.parentLocator ? { parentLocator: info.parentLocator } : {}),
  };
}

/** `info` as a table, one property a line. */
export function infoLines(i: VhdxInfo): string[] {
  const dirtyLog =
    i.log.state === 'dirty' ? ` (${i.log.entriesReplayed} entries, ${i.log.sectorsReplayed} sectors replayed in memory)` : '';
  return [
    `virtual size:      ${human(i.virtualSize)} (${i.virtualSize} bytes)`,
    `type:              ${i.type}`,
    `block size:        ${human(i.blockSize)}`,
    `sector size:       ${i.logicalSectorSize} logical, ${i.physicalSectorSize} physical`,
    `allocated:         ${human(i.allocatedBytes)} in ${i.allocatedBlocks} of ${i.blockCount} blocks`,
    `log:               ${i.log.state}${dirtyLog}`,
    `creator:           ${i.creator || '(none)'}`,
    `virtual disk id:   ${i.virtualDiskId}`,
    `file write guid:   ${i.fileWriteGuid}`,
    `data write guid:   ${i.dataWriteGuid}`,
    `current header:    ${i.currentHeader} (sequence ${i.headerSequenceNumber})`,
    `file size:         ${i.fileSize === undefined ? 'unknown' : `${human(i.fileSize)} (${i.fileSize} bytes)`}`,
    `regions:`,
    ...i.regions.map((r) => `  ${r.name.padEnd(9)} offset ${human(r.offset).padEnd(10)} length ${human(r.length)}`),
  ];
}

/**
 * Prints what the VHDX at `arg` (a path or URL) holds; returns the exit code.
 * @throws UsageError for stdin; VhdxError when it cannot be opened
 */
export async function info(arg: string, json: boolean): Promise<number> {
  const image = await openVhdx(reportInput(arg));
  try {
    const text = json ? JSON.stringify(infoJson(image.info), null, 2) : infoLines(image.info).join('\n');
    process.stdout.write(`${text}\n`);
    return 0;
  } finally {
    await image.close();
  }
}

/**
 * Prints every problem in the VHDX at `arg`; returns 0 when there is none, else EXIT.problemsFound.
 * @throws UsageError for stdin; VhdxError when it cannot be read at all
 */
export async function check(arg: string, json: boolean): Promise<number> {
  const report = await checkVhdx(reportInput(arg));
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok: report.ok, problems: report.problems }, null, 2)}\n`);
  } else if (report.ok) {
    process.stdout.write('No problems found.\n');
  } else {
    for (const p of report.problems) {
      const at = p.offset === undefined ? '' : ` at offset ${p.offset} (0x${p.offset.toString(16)})`;
      process.stdout.write(`${p.code}${at}: ${p.message}\n`);
    }
    process.stdout.write(`${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} found.\n`);
  }
  return report.ok ? EXIT.success : EXIT.problemsFound;
}

/** The reports read a file twice over (random access): stdin cannot be one. */
function reportInput(arg: string): string {
  if (arg === '-') throw new UsageError('info and check need a file or URL, not stdin');
  return arg;
}

/** A byte count in binary units, e.g. "1.50 MiB". */
function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
