// The in-place commands as the parser sees them: names, own options, help
// texts, the shared options (--parent, --quiet, ...) they also take, and the
// command parsed. Kept apart from inplace.ts, and importing nothing of the
// parser's (shapes are restated), so options.ts, args.ts and help.ts can
// take them without an import cycle.
import { UsageError } from './usage-error.js';

export const INPLACE_COMMANDS = ['compact', 'resize', 'set-parent', 'commit'] as const;
export type InPlaceName = (typeof INPLACE_COMMANDS)[number];

/** An option as options.ts describes one (restated here). */
interface InPlaceOptionSpec {
  long: string;
  short?: string;
  value?: string;
  commands: readonly InPlaceName[];
  help: string;
}

/** Options only the in-place commands take. */
export const INPLACE_OPTIONS: readonly InPlaceOptionSpec[] = [
  { long: 'dry-run', commands: ['compact'], help: 'say what would be reclaimed and write nothing' },
  {
    long: 'fs-trim',
    commands: ['compact'],
    help: 'also discard the blocks the filesystems inside the disk do not use (ext4, cleanly unmounted; docs/fs-trim.md)',
  },
  { long: 'shrink', commands: ['resize'], help: 'allow a smaller size (only when the range cut off holds no data)' },
  { long: 'remove', short: 'd', commands: ['commit'], help: 'remove the child once its base holds its data (default: leave it empty)' },
  {
    long: 'base',
    short: 'b',
    value: 'BASE',
    commands: ['commit'],
    help: "commit down to BASE, a lower level of the child's chain (default: its parent); the levels between are left empty",
  },
];

/** Options of other commands that the in-place commands take too. */
const SHARED: Record<string, readonly InPlaceName[]> = {
  parent: ['compact', 'set-parent'],
  'ignore-linkage': ['compact', 'set-parent'],
  progress: ['compact', 'commit'],
  'no-progress': ['compact', 'commit'],
  quiet: ['compact', 'commit'],
  json: ['compact'],
  force: ['commit'],
};

/** `spec`, applying also to the in-place commands that share it. */
export function withInPlace<T extends { long: string; commands: readonly string[] | 'global' }>(spec: T): T {
  const more = SHARED[spec.long];
  return more && spec.commands !== 'global' ? { ...spec, commands: [...spec.commands, ...more] } : spec;
}

/** The help of each in-place command. */
export const INPLACE_USAGE: Record<InPlaceName, { synopsis: string; about: string[] }> = {
  compact: {
    synopsis: 'vhdx compact <file> [--dry-run] [--fs-trim]',
    about: [
      'Makes a dynamic or differencing VHDX smaller in place: blocks that hold no data (all zeros)',
      'give up their space, the blocks after them move into the holes, and the file is cut.',
      'The disk reads the same; every change goes through the log, so a crash at any moment',
      'leaves the same disk (vhdx check, or any VHDX reader, replays it). Extra disk space while',
      'it runs: none but the log. --dry-run prints what would be reclaimed. A fixed VHDX keeps',
      'every block: convert it (vhdx convert --type dynamic) instead.',
    ],
  },
  resize: {
    synopsis: 'vhdx resize <file> <size|+size|-size> [--shrink]',
    about: [
      'Changes the virtual size of a dynamic or fixed VHDX in place: to <size>, or by +size or',
      '-size. Growing reads zeros in the new range (a fixed VHDX gets its new blocks; a BAT too',
      'small for the new size moves to the end of the file). Shrinking needs --shrink and is',
      'refused, writing nothing, when the range cut off holds data. Every change goes through',
      'the log. A differencing VHDX takes its size from its parent: refused.',
    ],
  },
  'set-parent': {
    synopsis: 'vhdx set-parent <child> --parent <path> [--ignore-linkage]',
    about: [
      "Points a differencing VHDX at its parent's new place (after the parent moved): checks",
      'that <path> is its parent (the DataWriteGuid the child names, the same size), then',
      "rewrites the child's parent locator through its log: relative_path from the child's",
      'folder (and absolute_win32_path on Windows). --ignore-linkage accepts a parent that',
      'changed since the child was made, and links the child to it as it is now.',
    ],
  },
  commit: {
    synopsis: 'vhdx commit <child> [-b|--base <base>] [-d|--remove] [--force]',
    about: [
      "Writes a differencing VHDX's data into its parent in place (qemu-img commit, Merge-VHD):",
      'the parent then reads as the chain did and gets a new DataWriteGuid. With -b BASE, the data',
      'of the child and of every level between it and BASE goes into BASE (a lower level of the',
      "child's chain); the levels between are then left empty, still linked, each reading as BASE",
      '(that is, as the child did: their own older contents are gone). Refused when other children',
      'beside BASE link to it, unless --force (they stop matching), and always when other children',
      'link to a level between. The child is left empty (it reads as BASE), or removed with -d.',
      "Safe across the files: the level linked to BASE records BASE's next DataWriteGuid before",
      "BASE's first write, and the levels are emptied from the bottom up, so the chain opens and",
      'reads the same at every point of an interrupted commit and a rerun finishes it.',
    ],
  },
};

/** An in-place command as parsed. */
export type InPlaceCommand =
  | {
      name: 'compact';
      file: string;
      dryRun: boolean;
      fsTrim: boolean;
      json: boolean;
      progress: boolean;
      quiet: boolean;
      /** --parent and --ignore-linkage (args.ts's ChainFlags). */
      chain: { parent?: string; ignoreLinkage: boolean };
    }
  | { name: 'set-parent'; file: string; chain: { parent?: string; ignoreLinkage: boolean } }
  | { name: 'commit'; file: string; base?: string; remove: boolean; force: boolean; progress: boolean }
  | {
      name: 'resize';
      file: string;
      /** The new size, or (`relative`) how much to add (negative: take away). */
      size: number;
      relative: boolean;
      shrink: boolean;
    };

/** What args.ts gives the in-place parser (its own shapes and helpers, to avoid an import cycle). */
export interface SharedParse {
  json: boolean;
  chain: { parent?: string; ignoreLinkage: boolean };
  parseSize(text: string, name: string): number;
}

/**
 * `arg` as the file a command changes in place: stdin and URLs refused.
 * @throws UsageError for `-` or an http(s) URL
 */
export function inPlaceFile(command: string, arg: string): string {
  if (arg === '-' || /^https?:\/\//i.test(arg)) throw new UsageError(`${command} changes a file in place: name the file, not - or a URL`);
  return arg;
}

/** True for the names of the in-place commands. */
export function isInPlace(name: string): name is InPlaceName {
  return (INPLACE_COMMANDS as readonly string[]).includes(name);
}

/** True for a parsed in-place command. */
export function isInPlaceCommand(command: { name: string }): command is InPlaceCommand {
  return isInPlace(command.name);
}

/**
 * The command `name` from its positionals and options (as options.ts gives them).
 * @throws UsageError for the wrong number of arguments or contradicting options
 */
export function parseInPlace(
  name: InPlaceName,
  rest: string[],
  options: ReadonlyMap<string, { value: string | true; typed: string }>,
  shared: SharedParse,
): InPlaceCommand {
  if (name === 'resize') {
    if (rest.length !== 2) {
      throw new UsageError(
        `resize takes a file and a size (SIZE, +SIZE or -SIZE), got ${describeCount(rest.length)} (try vhdx resize --help)`,
      );
    }
    const text = rest[1]!;
    const sign = text[0] === '+' ? 1 : text[0] === '-' ? -1 : 0;
    const bytes = shared.parseSize(sign === 0 ? text : text.slice(1), 'the size');
    return {
      name,
      file: inPlaceFile(name, rest[0]!),
      size: sign === 0 ? bytes : sign * bytes,
      relative: sign !== 0,
      shrink: options.has('shrink'),
    };
  }
  if (name === 'set-parent') {
    if (rest.length !== 1)
      throw new UsageError(`set-parent takes one child, got ${describeCount(rest.length)} (try vhdx set-parent --help)`);
    if (shared.chain.parent === undefined)
      throw new UsageError('set-parent needs --parent PATH: where the parent is now (try vhdx set-parent --help)');
    return { name, file: inPlaceFile(name, rest[0]!), chain: shared.chain };
  }
  if (name === 'commit') {
    if (rest.length !== 1) throw new UsageError(`commit takes one child, got ${describeCount(rest.length)} (try vhdx commit --help)`);
    const base = options.get('base')?.value;
    return {
      name,
      file: inPlaceFile(name, rest[0]!),
      ...(typeof base === 'string' ? { base } : {}),
      remove: options.has('remove'),
      force: options.has('force'),
      progress: progressOf(options),
    };
  }
  if (rest.length !== 1) throw new UsageError(`${name} takes one file, got ${describeCount(rest.length)} (try vhdx ${name} --help)`);
  const progress = progressOf(options);
  return {
    name,
    file: inPlaceFile(name, rest[0]!),
    dryRun: options.has('dry-run'),
    fsTrim: options.has('fs-trim'),
    json: shared.json,
    progress,
    quiet: options.has('quiet'),
    chain: shared.chain,
  };
}

/** -p/--progress, --no-progress and -q/--quiet: whether to draw progress (default when stderr is a terminal). */
function progressOf(options: ReadonlyMap<string, { value: string | true; typed: string }>): boolean {
  const quiet = options.has('quiet');
  if (quiet && options.has('progress'))
    throw new UsageError(`${options.get('quiet')!.typed} contradicts ${options.get('progress')!.typed}`);
  if (options.has('progress') && options.has('no-progress')) throw new UsageError('--progress contradicts --no-progress');
  return quiet || options.has('no-progress') ? false : options.has('progress') || !!process.stderr.isTTY;
}

function describeCount(n: number): string {
  return n === 0 ? 'none' : `${n} arguments`;
}
