// `vhdx info` and `vhdx check`: what a VHDX holds and what is wrong with it,
// as a table for people or as JSON for scripts.
import type { Problem, VhdxInfo } from '../image/types.js';
import { VhdxError, type LinkageMismatch } from '../errors.js';
import { EXIT } from './exit-codes.js';
import type { ImageInput } from './image-input.js';
import { openForReport } from './report-input.js';
import { splitMessage } from './messages.js';
import { chainJson, chainLines, isDifferencing, linkageAccepted, linkageError, warnLinkage, type ChainFlags } from './chain.js';

/**
 * A sequence number as JSON: a number while it is exact (below 2^53), a
 * decimal string beyond (the header field is 64 bits).
 */
function jsonInteger(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** The stable JSON shape of `vhdx info --json`. */
export function infoJson(info: VhdxInfo, input?: Pick<ImageInput, 'name' | 'diskSize'>): Record<string, unknown> {
  return {
    ...(input ? { image: input.name } : {}),
    format: 'vhdx',
    virtualSize: info.virtualSize,
    ...(input ? { diskSize: input.diskSize ?? null } : {}),
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
    headerSequenceNumber: jsonInteger(info.headerSequenceNumber),
    regions: info.regions.map((r) => ({ name: r.name, offset: r.offset, length: r.length })),
    ...(info.parentLocator ? { parentLocator: info.parentLocator } : {}),
    chain: chainJson(info),
  };
}

/** `info` as a table, one property a line. */
export function infoLines(i: VhdxInfo, input?: Pick<ImageInput, 'name' | 'diskSize'>): string[] {
  const log =
    i.log.state === 'dirty'
      ? `dirty (${i.log.entriesReplayed} entries, ${i.log.sectorsReplayed} sectors replayed in memory)`
      : i.log.state === 'active-empty'
        ? 'active, nothing to replay'
        : i.log.state;
  const bytes = (n: number | undefined) => (n === undefined ? 'unknown' : `${human(n)} (${n} bytes)`);
  return [
    ...(input ? [`image:             ${input.name}`] : []),
    `file format:       vhdx`,
    `virtual size:      ${bytes(i.virtualSize)}`,
    ...(input ? [`disk size:         ${bytes(input.diskSize)}`] : []),
    `file size:         ${bytes(i.fileSize)}`,
    `type:              ${i.type}`,
    `block size:        ${human(i.blockSize)}`,
    `sector size:       ${i.logicalSectorSize} logical, ${i.physicalSectorSize} physical`,
    `blocks:            ${i.allocatedBlocks} of ${i.blockCount} allocated (${human(i.allocatedBytes)})`,
    `log:               ${log}`,
    `creator:           ${i.creator || '(none)'}`,
    `virtual disk id:   ${i.virtualDiskId}`,
    `file write guid:   ${i.fileWriteGuid}`,
    `data write guid:   ${i.dataWriteGuid}`,
    `current header:    ${i.currentHeader} (sequence ${i.headerSequenceNumber})`,
    `regions:`,
    ...i.regions.map((r) => `  ${r.name.padEnd(9)} offset ${human(r.offset).padEnd(10)} length ${human(r.length)}`),
    ...(i.parentLocator ? ['parent locator:', ...Object.entries(i.parentLocator).map(([k, v]) => `  ${k} = ${v}`)] : []),
    ...(isDifferencing(i) ? chainLines(i, human) : []),
  ];
}

/**
 * Prints what the VHDX at `arg` holds; returns the exit code. A file, a URL
 * with Range support or stdin redirected from a file is read at random (a
 * differencing file with its chain, as `chain` says to follow it); a
 * pipe, a FIFO or a URL without Range is streamed until its structures have passed.
 * @throws UsageError for a streamed differencing file (its chain cannot be followed); VhdxError when it cannot be read or is not a usable VHDX (the error that stopped it)
 */
export async function info(arg: string, json: boolean, chain?: ChainFlags): Promise<number> {
  const report = await openForReport(arg, { whole: false, ...(chain ? { chain } : {}) });
  if (!report.info) throw stoppedBy(report.problems);
  warnLinkage(report.info, !!chain?.ignoreLinkage);
  const text = json ? JSON.stringify(infoJson(report.info, report.input), null, 2) : infoLines(report.info, report.input).join('\n');
  process.stdout.write(`${text}\n`);
  return EXIT.success;
}

/** The problem that stopped reading (the error opening the file throws), as the error to print. */
function stoppedBy(problems: readonly Problem[]): VhdxError {
  const last = problems.find((p) => p.stopped) ?? problems[problems.length - 1];
  if (!last) return new VhdxError('structure-unreadable', 'the image could not be read');
  return new VhdxError(last.reason, splitMessage(last.message, last).text, {
    ...(last.structure !== undefined ? { structure: last.structure } : {}),
    ...(last.field !== undefined ? { field: last.field } : {}),
    ...(last.offset !== undefined ? { offset: last.offset } : {}),
    ...(last.file !== undefined ? { file: last.file } : {}),
    ...(last.linkage !== undefined ? { linkage: last.linkage } : {}),
  });
}

/** A problem as `check` reports it: its location in fields of their own, the message without them. */
export interface ReportedProblem {
  code: Problem['code'];
  reason: Problem['reason'];
  structure?: Problem['structure'];
  field?: string;
  offset?: number;
  /** Which file of a differencing chain (0 the file named, 1 its parent, …); only for differencing files. */
  level?: number;
  /** `warning`: accepted (--ignore-linkage), not counted as a problem. */
  severity?: 'warning';
  message: string;
}

/**
 * Each problem once, in the order found, its location split from its message;
 * `withLevel` (a differencing file) gives each the chain level it is in.
 */
export function reportedProblems(problems: readonly Problem[], withLevel = false): ReportedProblem[] {
  const seen = new Set<string>();
  const out: ReportedProblem[] = [];
  for (const p of problems) {
    const key = `${p.level ?? 0}\0${p.reason}\0${p.offset}\0${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const split = splitMessage(p.message, p);
    const field = p.field ?? split.field;
    // the library's words name its option; the command line's name the flag
    const text = p.reason === 'parent-linkage-mismatch' && p.linkage ? linkageProblemText(p.linkage, p.severity) : split.text;
    out.push({
      code: p.code,
      reason: p.reason,
      ...(p.structure === undefined ? {} : { structure: p.structure }),
      ...(field === undefined ? {} : { field }),
      ...(p.offset === undefined ? {} : { offset: p.offset }),
      ...(withLevel ? { level: p.level ?? 0 } : {}),
      ...(p.severity ? { severity: p.severity } : {}),
      message: text,
    });
  }
  return out;
}

function linkageProblemText(m: LinkageMismatch, severity: Problem['severity']): string {
  return severity === 'warning' ? linkageAccepted(m) : linkageError(m);
}

/** One line: (in a chain, its level,) code, reason, where (structure, field, offset in decimal and hex), and what. */
export function problemLine(p: ReportedProblem): string {
  const where = [p.structure, p.field, p.offset === undefined ? undefined : `at offset ${p.offset} (0x${p.offset.toString(16)})`]
    .filter((part) => part !== undefined)
    .join(' ');
  const level = p.level === undefined ? '' : `level ${p.level}: `;
  const warning = p.severity === 'warning' ? 'warning: ' : '';
  return `${warning}${level}${p.code} ${p.reason}${where ? ` ${where}` : ''}: ${p.message}`;
}

/**
 * Prints every problem in the VHDX at `arg` (a differencing file: in every
 * level of its chain and its links, each problem with its level); returns 0
 * when there is none (warnings, such as a parent accepted with --ignore-linkage, do not count),
 * else EXIT.problemsFound.
 * @throws UsageError for stdin that is not a file; VhdxError `NOT_VHDX` for a
 *   file that is no VHDX at all (as `info` reports it), `IO` when it cannot be read
 */
export async function check(arg: string, json: boolean, chain?: ChainFlags): Promise<number> {
  const report = await openForReport(arg, { whole: true, ...(chain ? { chain } : {}) });
  const { input } = report;
  const notVhdx = report.problems.find((p) => p.code === 'NOT_VHDX');
  // nothing was checked: the same one-line error `info` gives
  if (notVhdx) throw stoppedBy([notVhdx]);
  if (report.info) warnLinkage(report.info, !!chain?.ignoreLinkage);
  const differencing = report.info ? isDifferencing(report.info) : report.problems.some((p) => (p.level ?? 0) > 0);
  const listed = reportedProblems(report.problems, differencing);
  const errors = listed.filter((p) => p.severity !== 'warning').length;
  if (json) {
    process.stdout.write(`${JSON.stringify({ image: input.name, ok: errors === 0, problems: listed }, null, 2)}\n`);
  } else {
    for (const p of listed) process.stdout.write(`${problemLine(p)}\n`);
    process.stdout.write(errors === 0 ? 'No problems found.\n' : `${errors} problem${errors === 1 ? '' : 's'} found.\n`);
  }
  return errors === 0 ? EXIT.success : EXIT.problemsFound;
}

/** A byte count in binary units, e.g. "1.50 MiB". */
export function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
