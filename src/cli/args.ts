// The command line as words: the help text, sizes such as "32M", and the
// command with its checked options. Nothing here touches a file.
import { parseArgs } from 'node:util';
import { MiB } from '../format/bytes.js';
import type { VhdxCreateOptions } from '../layout/options.js';

export const HELP = `vhdx — convert raw disk images to VHDX and back

Usage:
  vhdx convert <input> <output> [options]
  vhdx info <input> [--json]
  vhdx check <input> [--json]

<input> is a file path, - for stdin, or an http(s) URL; <output> is a path or - for stdout.
The direction follows the input: a VHDX ("vhdxfile" signature) becomes raw, anything
else becomes VHDX. --to overrides it (VHDX to VHDX re-blocks or changes the type).

Convert options:
  --to raw|vhdx                 output format
  --type dynamic|fixed          VHDX type (default dynamic)
  --block-size N                block size: bytes or 1M, 32M, ... (default 8M; 32M over 4 TiB)
  --logical-sector-size 512|4096
  --physical-sector-size 512|4096
  --log-size N                  log size (default 1M)
  --size N                      virtual size, when the input size cannot be known (stdin to stdout)
  --progress                    show progress on stderr (default when stderr is a terminal)
  --debug                       show stack traces on errors

Exit codes: 0 success; 1 not a valid or supported VHDX; 2 usage error;
3 check found problems; 4 I/O error.`;

/** A mistake in the command line, reported as error[USAGE] with exit code 2. */
export class UsageError extends Error {}

/**
 * Parses "32M", "1G", "4096" into bytes.
 * @throws UsageError for anything else, or a size beyond 2^53
 */
export function parseSize(text: string, name: string): number {
  const m = /^(\d+)([kmgt]i?b?)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${name}: not a size: ${text}`);
  const unit = (m[2] ?? '').charAt(0).toLowerCase();
  const scale = { '': 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB }[unit] ?? 1;
  const n = Number(m[1]) * scale;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${name}: too large: ${text}`);
  return n;
}

/** What `convert` was asked for: the VHDX to make, the forced direction, progress. */
export interface ConvertFlags extends VhdxCreateOptions {
  to?: 'raw' | 'vhdx';
  progress: boolean;
}

export type Command =
  | { name: 'help'; exitCode: number }
  | { name: 'info' | 'check'; input: string; json: boolean }
  | { name: 'convert'; input: string; output: string; flags: ConvertFlags };

/** A parsed command line; `debug` asks for stack traces on errors. */
export interface CommandLine {
  command: Command;
  debug: boolean;
}

/**
 * Parses the arguments after `vhdx`.
 * @throws UsageError, or node's ERR_PARSE_ARGS_* TypeError for an unknown option
 */
export function parseCommandLine(argv: string[]): CommandLine {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      debug: { type: 'boolean' },
      progress: { type: 'boolean' },
      to: { type: 'string' },
      type: { type: 'string' },
      'block-size': { type: 'string' },
      'logical-sector-size': { type: 'string' },
      'physical-sector-size': { type: 'string' },
      'log-size': { type: 'string' },
      size: { type: 'string' },
    },
  });
  const debug = !!values.debug;
  const [name, ...rest] = positionals;
  if (values.help || name === 'help' || name === undefined) {
    // bare `vhdx` is a usage mistake that still deserves the help text
    return { debug, command: { name: 'help', exitCode: name === undefined && !values.help ? 2 : 0 } };
  }
  if (name === 'info' || name === 'check') {
    if (rest.length !== 1) throw new UsageError(`${name} takes one input`);
    return { debug, command: { name, input: rest[0]!, json: !!values.json } };
  }
  if (name !== 'convert') throw new UsageError(`unknown command "${name}" (try --help)`);
  if (rest.length !== 2) throw new UsageError('convert takes an input and an output');
  const to = values.to;
  if (to !== undefined && to !== 'raw' && to !== 'vhdx') throw new UsageError('--to must be raw or vhdx');
  const type = values.type;
  if (type !== undefined && type !== 'dynamic' && type !== 'fixed') throw new UsageError('--type must be dynamic or fixed');
  const flags: ConvertFlags = {
    progress: values.progress ?? !!process.stderr.isTTY,
    ...(to ? { to } : {}),
    ...(type ? { type } : {}),
    ...(values['block-size'] ? { blockSize: parseSize(values['block-size'], '--block-size') } : {}),
    ...(values['log-size'] ? { logSize: parseSize(values['log-size'], '--log-size') } : {}),
    ...(values.size ? { virtualSize: parseSize(values.size, '--size') } : {}),
  };
  const lss = sectorSize(values['logical-sector-size'], '--logical-sector-size');
  const pss = sectorSize(values['physical-sector-size'], '--physical-sector-size');
  if (lss) flags.logicalSectorSize = lss;
  if (pss) flags.physicalSectorSize = pss;
  return { debug, command: { name: 'convert', input: rest[0]!, output: rest[1]!, flags } };
}

function sectorSize(value: string | undefined, name: string): 512 | 4096 | undefined {
  if (value === undefined) return undefined;
  if (value !== '512' && value !== '4096') throw new UsageError(`${name} must be 512 or 4096`);
  return Number(value) as 512 | 4096;
}
