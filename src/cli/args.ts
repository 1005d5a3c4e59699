// The command line as a command: which one, its inputs, and its options
// checked against what that command takes. Nothing here touches a file.
import type { VhdxCreateOptions } from '../layout/options.js';
import type { S3PartOptions } from '../sources/s3.js';
import { COMMANDS, appliesTo, closest, optionSpec, tokenize, type CommandName, type GivenOption, type Tokens } from './options.js';
import { type ImageFormat, resolveInput, resolveOutput } from './inputs.js';
import { isS3Url, s3Location } from './s3.js';
import { UsageError } from './usage-error.js';
import { isInPlace, parseInPlace, type InPlaceCommand } from './inplace-options.js';

export { UsageError } from './usage-error.js';

const UNITS: Record<string, bigint> = { '': 1n, b: 1n, k: 1n << 10n, m: 1n << 20n, g: 1n << 30n, t: 1n << 40n, p: 1n << 50n };

/**
 * Parses a size such as "4096", "32M", "1.5G" or "2TiB" (binary units) into
 * bytes; a decimal is accepted when it makes a whole number of bytes.
 * @throws UsageError for anything else, a fraction of a byte, or a size of 2^53 bytes or more
 */
export function parseSize(text: string, name: string): number {
  const m = /^(\d+)(?:\.(\d+))?\s*(?:([kmgtp])(?:i?b)?|(b))?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${name} must be a size such as 4096, 32M or 1.5G, got "${text}"`);
  const fraction = m[2] ?? '';
  const scale = UNITS[(m[3] ?? m[4] ?? '').toLowerCase()]!;
  const scaled = BigInt(m[1]! + fraction) * scale;
  const divisor = 10n ** BigInt(fraction.length);
  if (scaled % divisor !== 0n) throw new UsageError(`${name} ${text} is not a whole number of bytes`);
  const bytes = scaled / divisor;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${name} ${text} is too large`);
  return Number(bytes);
}

export type { ImageFormat };

/** How a differencing VHDX's chain is followed: --parent and --ignore-linkage. */
export interface ChainFlags {
  /** --parent: where the first parent is (else the child's locator says). */
  parent?: string;
  /** --ignore-linkage: accept a parent whose DataWriteGuid changed, with a warning. */
  ignoreLinkage: boolean;
}

/** What `convert` was asked for: the VHDX to make, the formats, progress and notices. */
export interface ConvertFlags extends VhdxCreateOptions {
  /** How a VHDX input's chain is followed (default: by its locator, linkage checked). */
  chain?: ChainFlags;
  /** The output format (-O/--to), when given. */
  to?: ImageFormat;
  /** How to read the input (-f/--from), when given; otherwise its first bytes decide. */
  inputFormat?: ImageFormat;
  progress: boolean;
  /** -q/--quiet: no progress and no notices on stderr. */
  quiet: boolean;
  /** --force: replace an output VHDX even when a child beside it reads through it. */
  force?: boolean;
  /** --parallel N: worker threads rendering parts of one plan. */
  parallel?: number;
  /** --s3-checksum: the object checksum an s3:// output asks of the store (the upload's `checksum` option). */
  s3Checksum?: S3Checksum;
}

/** The values of --s3-checksum: the upload's `checksum` option. */
export type S3Checksum = NonNullable<S3PartOptions['checksum']>;
const S3_CHECKSUMS = ['full-object', 'composite', 'none'] as const satisfies readonly S3Checksum[];

/** What `measure` was asked for: the VHDX it sizes, and how to read the input. */
export interface MeasureFlags extends VhdxCreateOptions {
  inputFormat?: ImageFormat;
  chain?: ChainFlags;
}

export type Command =
  | { name: 'help'; topic: CommandName | undefined; toStderr: boolean; exitCode: number }
  | { name: 'version' }
  | { name: 'info' | 'check'; input: string; json: boolean; chain: ChainFlags; repair?: boolean }
  | { name: 'measure'; input: string; json: boolean; flags: MeasureFlags }
  | { name: 'convert'; input: string; output: string; flags: ConvertFlags }
  | { name: 'create'; output: string; parent: string }
  | InPlaceCommand;

/** A parsed command line; `debug` asks for stack traces on errors, `options` keeps each option as typed. */
export interface CommandLine {
  command: Command;
  debug: boolean;
  options: ReadonlyMap<string, GivenOption>;
}

/**
 * Parses the arguments after `vhdx`.
 * @throws UsageError for any mistake: unknown command or option, an option the
 *   command does not take, a missing or malformed value, the wrong number of arguments
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const tokens = tokenize(argv);
  const { options } = tokens;
  expandFormatOptions(options);
  const debug = options.has('debug');
  const line = (command: Command): CommandLine => ({ command, debug, options });
  const [first, ...rest] = tokens.positionals;
  const name = first === 'help' ? 'help' : commandName(first);
  if (name === 'help') {
    const topic = rest[0] === undefined ? undefined : commandName(rest[0]);
    return line({ name: 'help', topic, toStderr: false, exitCode: 0 });
  }
  checkApplicable(tokens, name);
  if (options.has('help')) return line({ name: 'help', topic: name, toStderr: false, exitCode: 0 });
  if (options.has('version')) return line({ name: 'version' });
  // bare `vhdx` is a usage mistake that still deserves the help text, where mistakes go
  if (name === undefined) return line({ name: 'help', topic: undefined, toStderr: true, exitCode: 2 });
  if (isInPlace(name)) return line(parseInPlace(name, rest, options, { json: jsonOutput(options), chain: chainFlags(options), parseSize }));
  switch (name) {
    case 'info':
    case 'check':
    case 'repair': {
      const repair = name === 'repair' || (name === 'check' && repairFlag(options));
      return line({
        name: name === 'info' ? 'info' : 'check',
        input: inputArg(onlyInput(rest, name)),
        json: jsonOutput(options),
        chain: chainFlags(options),
        ...(repair ? { repair } : {}),
      });
    }
    case 'measure':
      return line({ name, input: inputArg(onlyInput(rest, name)), json: jsonOutput(options), flags: measureFlags(options) });
    case 'create': {
      const output = outputArg(onlyInput(rest, name));
      const parent = chainFlags(options).parent;
      if (parent === undefined)
        throw new UsageError('create needs --parent PATH: the VHDX the child is made over (try vhdx create --help)');
      return line({ name, output, parent });
    }
    case 'convert': {
      if (rest.length !== 2)
        throw new UsageError(`convert takes an input and an output, got ${describeCount(rest.length)} (try vhdx convert --help)`);
      const output = convertOutputArg(rest[1]!);
      const checksum = options.get('s3-checksum');
      if (checksum && !isS3Url(output)) throw new UsageError(`${checksum.typed} applies to an s3:// output, not ${output}`);
      return line({ name, input: inputArg(rest[0]!), output, flags: convertFlags(options) });
    }
  }
}

function commandName(word: string | undefined): CommandName | undefined {
  if (word === undefined) return undefined;
  if ((COMMANDS as readonly string[]).includes(word)) return word as CommandName;
  const near = closest(word, COMMANDS);
  throw new UsageError(`unknown command "${word}"${near ? ` (did you mean ${near}?)` : ''} (try vhdx --help)`);
}

/** qemu-img's `-o` keys for VHDX, and the options they stand for. */
const FORMAT_OPTION_KEYS: Record<string, string> = { subformat: 'type', block_size: 'block-size', log_size: 'log-size' };

/**
 * `-o subformat=fixed,block_size=2M` as qemu-img users write it, turned into the options it stands for
 * (`--type fixed --block-size 2M`), each named `-o KEY` in messages. `-o` itself stays in `options`, so
 * that a command it does not apply to still refuses it.
 * @throws UsageError for a key this tool does not take, a pair without `=`, or a key whose option is also given
 */
function expandFormatOptions(options: Map<string, GivenOption>): void {
  const given = options.get('format-options');
  if (!given) return;
  for (const pair of String(given.value).split(',')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const long = FORMAT_OPTION_KEYS[key];
    if (long === undefined || eq < 0) {
      const what = long === undefined ? `${given.typed} ${key} is not an option of this tool` : `${given.typed} ${key} needs a value`;
      throw new UsageError(
        `${what}; ${given.typed} takes ${Object.keys(FORMAT_OPTION_KEYS).join(', ')} (or give --type, --block-size, --log-size)`,
      );
    }
    const already = options.get(long);
    if (already) throw new UsageError(`${given.typed} ${key} and ${already.typed} both give the ${long}: give one`);
    options.set(long, { value: pair.slice(eq + 1), typed: `${given.typed} ${key}` });
  }
}

/** Options that do not apply to the command are mistakes, not silently ignored. */
function checkApplicable(tokens: Tokens, command: CommandName | undefined): void {
  for (const [long, given] of tokens.options) {
    if (appliesTo(optionSpec(long)!, command)) continue;
    throw new UsageError(
      command
        ? `${given.typed} does not apply to ${command} (try vhdx ${command} --help)`
        : `${given.typed} needs a command (try vhdx --help)`,
    );
  }
}

/** `arg`, once it is known to name an input this tool reads (see resolveInput). */
function inputArg(arg: string): string {
  resolveInput(arg);
  return arg;
}

/** `arg`, once it is known to name an output this tool writes (see resolveOutput). */
function outputArg(arg: string): string {
  resolveOutput(arg);
  return arg;
}

/** `arg`, once it is known to name an output `convert` writes: an output of any command, or an s3:// object. */
function convertOutputArg(arg: string): string {
  if (isS3Url(arg)) s3Location(arg);
  else resolveOutput(arg);
  return arg;
}

function onlyInput(rest: string[], name: CommandName): string {
  if (rest.length !== 1) throw new UsageError(`${name} takes one input, got ${describeCount(rest.length)} (try vhdx ${name} --help)`);
  return rest[0]!;
}

function describeCount(n: number): string {
  return n === 0 ? 'none' : n === 1 ? '1 argument' : `${n} arguments`;
}

/** --json, or --output=json|human; the two must not contradict each other. */
function jsonOutput(options: ReadonlyMap<string, GivenOption>): boolean {
  const output = options.get('output');
  const json = options.has('json');
  if (!output) return json;
  const value = oneOf(output, ['human', 'json'] as const);
  if (json && value !== 'json') throw new UsageError(`--json contradicts ${output.typed} ${value}`);
  return value === 'json';
}

/**
 * check -r all: repair first. qemu-img's other level, `leaks`, has no VHDX
 * meaning (a VHDX has no reference counts to leak; a log is replayed whole or
 * not at all), so it is refused rather than taken as `all`.
 */
function repairFlag(options: ReadonlyMap<string, GivenOption>): boolean {
  const given = options.get('repair');
  if (!given) return false;
  if (given.value === 'leaks')
    throw new UsageError(`${given.typed} leaks has nothing to repair in a VHDX (no reference counts); use ${given.typed} all`);
  oneOf(given, ['all'] as const);
  return true;
}

function convertFlags(options: ReadonlyMap<string, GivenOption>): ConvertFlags {
  const quiet = options.has('quiet');
  const progressFlag = options.get('progress') ?? options.get('no-progress');
  if (options.has('progress') && options.has('no-progress')) throw new UsageError('--progress contradicts --no-progress');
  if (quiet && options.has('progress'))
    throw new UsageError(`${options.get('quiet')!.typed} contradicts ${options.get('progress')!.typed}`);
  const to = options.get('to');
  const flags: ConvertFlags = {
    ...createOptions(options),
    progress: quiet ? false : progressFlag ? options.has('progress') : !!process.stderr.isTTY,
    quiet,
    force: options.has('force'),
    chain: chainFlags(options),
    ...(to ? { to: oneOf(to, ['raw', 'vhdx'] as const) } : {}),
  };
  const from = options.get('from');
  if (from) flags.inputFormat = oneOf(from, ['raw', 'vhdx'] as const);
  const parallel = options.get('parallel');
  if (parallel) {
    const n = String(parallel.value);
    if (!/^[1-9][0-9]{0,3}$/.test(n)) throw new UsageError(`${parallel.typed} takes a number of worker threads from 1 to 9999, got "${n}"`);
    flags.parallel = Number(n);
  }
  const checksum = options.get('s3-checksum');
  if (checksum) flags.s3Checksum = oneOf(checksum, S3_CHECKSUMS);
  return flags;
}

function measureFlags(options: ReadonlyMap<string, GivenOption>): MeasureFlags {
  const to = options.get('to');
  if (to && oneOf(to, ['raw', 'vhdx'] as const) !== 'vhdx') {
    throw new UsageError(`measure sizes a VHDX: ${to.typed} raw has nothing to measure (a raw output is as large as its disk)`);
  }
  const flags: MeasureFlags = { ...createOptions(options), chain: chainFlags(options) };
  const from = options.get('from');
  if (from) flags.inputFormat = oneOf(from, ['raw', 'vhdx'] as const);
  return flags;
}

/** --parent and --ignore-linkage, for every command that reads a VHDX. */
function chainFlags(options: ReadonlyMap<string, GivenOption>): ChainFlags {
  const parent = options.get('parent');
  if (parent && String(parent.value) === '') throw new UsageError(`${parent.typed} needs a path`);
  const resolved = parent ? resolveInput(String(parent.value)) : undefined;
  if (resolved?.kind === 'stdin') throw new UsageError(`${parent!.typed} needs a file or URL, not -`);
  const at = resolved && (resolved.kind === 'url' ? resolved.url : resolved.path);
  return { ...(at !== undefined ? { parent: at } : {}), ignoreLinkage: options.has('ignore-linkage') };
}

/** The VHDX options shared by convert and measure. */
function createOptions(options: ReadonlyMap<string, GivenOption>): VhdxCreateOptions {
  const create: VhdxCreateOptions = {};
  const type = options.get('type');
  if (type) create.type = oneOf(type, ['dynamic', 'fixed'] as const);
  const size = (long: string) => {
    const given = options.get(long);
    return given ? parseSize(String(given.value), given.typed) : undefined;
  };
  const blockSize = size('block-size');
  const logSize = size('log-size');
  const virtualSize = size('size');
  if (blockSize !== undefined) create.blockSize = blockSize;
  if (logSize !== undefined) create.logSize = logSize;
  if (virtualSize !== undefined) create.virtualSize = virtualSize;
  const lss = options.get('logical-sector-size');
  const pss = options.get('physical-sector-size');
  if (lss) create.logicalSectorSize = Number(oneOf(lss, ['512', '4096'] as const)) as 512 | 4096;
  if (pss) create.physicalSectorSize = Number(oneOf(pss, ['512', '4096'] as const)) as 512 | 4096;
  return create;
}

function oneOf<T extends string>(given: GivenOption, allowed: readonly T[]): T {
  const value = String(given.value);
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const choices = allowed.length === 2 ? `${allowed[0]} or ${allowed[1]}` : allowed.join(', ');
  throw new UsageError(`${given.typed} must be ${choices}, got "${value}"`);
}
