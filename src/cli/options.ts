// The options `vhdx` knows, which commands take each, and the command line
// cut into options and positionals. Our own parser rather than node's
// parseArgs: every mistake gets one plain line naming the flag as typed,
// and an unknown option gets the closest known one as a suggestion.
import { INPLACE_COMMANDS, INPLACE_OPTIONS, withInPlace } from './inplace-options.js';
import { UsageError } from './usage-error.js';

export const COMMANDS = ['convert', 'info', 'check', 'measure', 'create', 'repair', ...INPLACE_COMMANDS] as const;
export type CommandName = (typeof COMMANDS)[number];

/** One option: its names, its value (absent for a switch), where it applies and its help line. */
export interface OptionSpec {
  long: string;
  short?: string;
  /** The value's placeholder in the help, e.g. `N` or `raw|vhdx`; absent for a switch. */
  value?: string;
  /** The commands that take it; `global` ones work with or without a command. */
  commands: readonly CommandName[] | 'global';
  help: string;
  /** What it does for a command where it means something else than `help` says (that command's --help shows this). */
  helpFor?: Partial<Record<CommandName, string>>;
}

const CONVERT_MEASURE = ['convert', 'measure'] as const;
const REPORTS = ['info', 'check', 'measure'] as const;
/** The commands that read a VHDX at random offsets, and so may follow a differencing file's chain. */
const CHAIN_READERS = ['convert', 'info', 'check', 'measure', 'repair'] as const;

/** The options of the commands before the in-place ones. */
const BASE_OPTIONS: readonly OptionSpec[] = [
  {
    long: 'to',
    short: 'O',
    value: 'raw|vhdx',
    commands: CONVERT_MEASURE,
    help: "output format (default: from the output name; stdout, a device or a FIFO: the input's other format)",
    helpFor: { measure: 'vhdx, the only format measure sizes (taken as qemu-img measure -O takes it)' },
  },
  {
    long: 'from',
    short: 'f',
    value: 'raw|vhdx',
    commands: CONVERT_MEASURE,
    help: 'read the input as this format (default: from its first bytes)',
  },
  { long: 'type', value: 'dynamic|fixed', commands: CONVERT_MEASURE, help: 'VHDX type (default dynamic)' },
  {
    long: 'block-size',
    value: 'N',
    commands: CONVERT_MEASURE,
    help: 'VHDX block size, a power of two from 1M to 256M (default 8M; 32M over 4T)',
  },
  { long: 'logical-sector-size', value: '512|4096', commands: CONVERT_MEASURE, help: 'VHDX logical sector size (default 512)' },
  { long: 'physical-sector-size', value: '512|4096', commands: CONVERT_MEASURE, help: 'VHDX physical sector size (default 4096)' },
  { long: 'log-size', value: 'N', commands: CONVERT_MEASURE, help: 'VHDX log size, a multiple of 1M up to 1G (default 1M)' },
  {
    long: 'format-options',
    short: 'o',
    value: 'KEY=V,…',
    commands: CONVERT_MEASURE,
    help: "qemu-img's VHDX options: subformat=dynamic|fixed, block_size=N, log_size=N (--type, --block-size, --log-size)",
  },
  {
    long: 'size',
    value: 'N',
    commands: CONVERT_MEASURE,
    help: 'virtual disk size (default: the input size); past the input reads as zeros',
  },
  {
    long: 'parallel',
    value: 'N',
    commands: ['convert'],
    help: 'raw -> VHDX into a file or an s3:// object by N worker threads, each rendering whole parts (a file, URL or s3:// input)',
  },
  {
    long: 's3-checksum',
    value: 'full-object|composite|none',
    commands: ['convert'],
    help: "the checksum an s3:// output asks of the store: CRC-32C of the whole object (full-object, default), of the parts' CRC-32Cs (composite: Cloudflare R2), or no checksum headers (none)",
  },
  { long: 'progress', short: 'p', commands: ['convert'], help: 'show progress on stderr (default when stderr is a terminal)' },
  { long: 'no-progress', commands: ['convert'], help: 'never show progress' },
  { long: 'quiet', short: 'q', commands: ['convert'], help: 'no progress and no notices' },
  {
    long: 'force',
    commands: ['convert'],
    help: 'replace an output VHDX that a differencing file beside it names as its parent (that child breaks), or an existing s3:// object',
    helpFor: { commit: 'commit even when other children link to the parent (they stop matching)' },
  },
  {
    long: 'parent',
    value: 'PATH',
    commands: [...CHAIN_READERS, 'create'],
    help: "a differencing VHDX's parent (default: found by its parent locator, beside it); with a raw input, the child's",
    helpFor: {
      convert: "a differencing input's parent (default: its locator's); with a raw input or a VHDX without one, the child's",
      create: 'the VHDX the new child reads through (required)',
    },
  },
  {
    long: 'ignore-linkage',
    commands: CHAIN_READERS,
    help: 'accept a parent whose DataWriteGuid changed since the child was made (with a warning)',
  },
  {
    long: 'repair',
    short: 'r',
    value: 'all',
    commands: ['check'],
    help: 'repair the file in place first (replay a dirty log, as qemu-img check -r all; vhdx repair is the same)',
  },
  { long: 'json', commands: REPORTS, help: 'print JSON (same as --output=json)' },
  { long: 'output', value: 'human|json', commands: REPORTS, help: 'output format of the report (default human)' },
  { long: 'help', short: 'h', commands: 'global', help: 'show help (vhdx COMMAND --help: that command only)' },
  { long: 'version', short: 'V', commands: 'global', help: 'print the version' },
  { long: 'debug', commands: 'global', help: 'show stack traces on errors' },
];

/** Every option, in the order the help lists them (the in-place commands' own last; cli/inplace-options.ts). */
export const OPTIONS: readonly OptionSpec[] = [...BASE_OPTIONS, ...INPLACE_OPTIONS].map(withInPlace);

/** An option as given: its value (`true` for a switch) and the name the user typed (`-O` or `--to`). */
export interface GivenOption {
  value: string | true;
  typed: string;
}

/** The command line cut into positionals and options (by long name; the last occurrence wins). */
export interface Tokens {
  positionals: string[];
  options: Map<string, GivenOption>;
}

const byLong = new Map(OPTIONS.map((o) => [o.long, o]));
const byShort = new Map(OPTIONS.filter((o) => o.short).map((o) => [o.short!, o]));

/** The spec of the option with long name `long`. */
export function optionSpec(long: string): OptionSpec | undefined {
  return byLong.get(long);
}

/** True when `spec` applies to `command` (undefined: no command given). */
export function appliesTo(spec: OptionSpec, command: CommandName | undefined): boolean {
  return spec.commands === 'global' || (command !== undefined && spec.commands.includes(command));
}

/**
 * Cuts `argv` into options and positionals: `--name value`, `--name=value`,
 * `-x value`, `-xvalue`, clustered switches (`-qp`), `-` as a positional, and
 * everything after `--` as positionals.
 * @throws UsageError for an unknown option (with the closest known one), a
 *   missing value, or a value given to a switch
 */
export function tokenize(argv: readonly string[]): Tokens {
  const positionals: string[] = [];
  const options = new Map<string, GivenOption>();
  let i = 0;
  const takeValue = (spec: OptionSpec, typed: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const next = argv[i + 1];
    if (next === undefined) throw new UsageError(`${typed} needs a value (${spec.value})`);
    i++;
    return next;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const typed = eq < 0 ? arg : arg.slice(0, eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      const spec = byLong.get(typed.slice(2));
      if (!spec) throw new UsageError(`unknown option ${typed}${suggestion(typed.slice(2))}`);
      if (!spec.value && inline !== undefined) throw new UsageError(`${typed} takes no value`);
      options.set(spec.long, { value: spec.value ? takeValue(spec, typed, inline) : true, typed });
    } else if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      // (`-1G` is a value: resize's relative size)
      for (let j = 1; j < arg.length; j++) {
        const typed = `-${arg[j]}`;
        const spec = byShort.get(arg[j]!);
        // `-json` is most likely `--json` with one dash: suggest that rather than nothing
        if (!spec)
          throw new UsageError(`unknown option ${j === 1 ? arg : typed}${j === 1 && arg.length > 2 ? suggestion(arg.slice(1)) : ''}`);
        if (!spec.value) {
          options.set(spec.long, { value: true, typed });
          continue;
        }
        const rest = arg.slice(j + 1);
        options.set(spec.long, { value: takeValue(spec, typed, rest === '' ? undefined : rest.replace(/^=/, '')), typed });
        break;
      }
    } else {
      positionals.push(arg);
    }
  }
  return { positionals, options };
}

/** ` (did you mean --xyz?)` for the known option closest to `name`, when one is close enough. */
function suggestion(name: string): string {
  const best = closest(
    name,
    OPTIONS.map((o) => o.long),
  );
  return best === undefined ? '' : ` (did you mean --${best}?)`;
}

/**
 * The candidate nearest to `word` by edit distance, when it is near enough to
 * be a plausible typo (at most a third of the longer word, and at least 1 edit allowed up to 2).
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  if (word === '') return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const allowed = Math.max(2, Math.floor(Math.max(word.length, best?.length ?? 0) / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions, each costing 1. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
