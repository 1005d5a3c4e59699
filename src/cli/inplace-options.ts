// The in-place commands as the parser sees them: names, own options, help
// texts, the shared options (--parent, --quiet, ...) they also take, and the
// command parsed. Kept apart from inplace.ts, and importing nothing of the
// parser's (shapes are restated), so options.ts, args.ts and help.ts can
// take them without an import cycle.
import { UsageError } from './usage-error.js';

export const INPLACE_COMMANDS = ['compact'] as const;
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
];

/** Options of other commands that the in-place commands take too. */
const SHARED: Record<string, readonly InPlaceName[]> = {
  parent: ['compact'],
  'ignore-linkage': ['compact'],
  progress: ['compact'],
  'no-progress': ['compact'],
  quiet: ['compact'],
  json: ['compact'],
};

/** `spec`, applying also to the in-place commands that share it. */
export function withInPlace<T extends { long: string; commands: readonly string[] | 'global' }>(spec: T): T {
  const more = SHARED[spec.long];
  return more && spec.commands !== 'global' ? { ...spec, commands: [...spec.commands, ...more] } : spec;
}

/** The help of each in-place command. */
export const INPLACE_USAGE: Record<InPlaceName, { synopsis: string; about: string[] }> = {
  compact: {
    synopsis: 'vhdx compact <file> [--dry-run]',
    about: [
      'Makes a dynamic or differencing VHDX smaller in place: blocks that hold no data (all zeros)',
      'give up their space, the blocks after them move into the holes, and the file is cut.',
      'The disk reads the same; every change goes through the log, so a crash at any moment',
      'leaves the same disk (vhdx check, or any VHDX reader, replays it). Extra disk space while',
      'it runs: none but the log. --dry-run prints what would be reclaimed. A fixed VHDX keeps',
      'every block: convert it (vhdx convert --type dynamic) instead.',
    ],
  },
};

/** An in-place command as parsed. */
export type InPlaceCommand = {
  name: 'compact';
  file: string;
  dryRun: boolean;
  json: boolean;
  progress: boolean;
  quiet: boolean;
  /** --parent and --ignore-linkage (args.ts's ChainFlags). */
  chain: { parent?: string; ignoreLinkage: boolean };
};

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
  shared: { json: boolean; chain: InPlaceCommand['chain'] },
): InPlaceCommand {
  if (rest.length !== 1) {
    throw new UsageError(
      `${name} takes one file, got ${rest.length === 0 ? 'none' : `${rest.length} arguments`} (try vhdx ${name} --help)`,
    );
  }
  const quiet = options.has('quiet');
  if (quiet && options.has('progress'))
    throw new UsageError(`${options.get('quiet')!.typed} contradicts ${options.get('progress')!.typed}`);
  if (options.has('progress') && options.has('no-progress')) throw new UsageError('--progress contradicts --no-progress');
  const progress = quiet || options.has('no-progress') ? false : options.has('progress') || !!process.stderr.isTTY;
  return { name, file: rest[0]!, dryRun: options.has('dry-run'), json: shared.json, progress, quiet, chain: shared.chain };
}
