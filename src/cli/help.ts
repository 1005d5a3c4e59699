// The help texts, built from the option table and the exit-code table so
// that they cannot drift from what the parser accepts; and the version.
import { readFileSync } from 'node:fs';
import { EXIT_CODE_LINES } from './exit-codes.js';
import { OPTIONS, appliesTo, type CommandName, type OptionSpec } from './options.js';
import { INPLACE_USAGE } from './inplace-options.js';

const USAGE: Record<CommandName, { synopsis: string; about: string[] }> = {
  convert: {
    synopsis: 'vhdx convert <input> <output> [options]',
    about: [
      'Converts a raw disk image to VHDX, a VHDX to raw, or a VHDX to VHDX (re-blocked, compacted).',
      '<input> is a path, - for stdin, or an http, https, s3 or file URL; <output> is a path, a file URL, - for stdout',
      '(never a terminal), or s3://bucket/key (raw -> VHDX, VHDX -> raw; uploaded in parts, aborted on failure or Ctrl-C;',
      'an existing object is replaced only with --force). s3:// reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,',
      'AWS_SESSION_TOKEN, AWS_REGION and AWS_ENDPOINT_URL (path style there; else AWS S3).',
      'The output is written under a temporary name beside it and renamed',
      'into place when complete. A differencing VHDX (.avhdx) is flattened through its parents',
      '(found by its parent locator, or --parent). A raw input, or a VHDX without a parent, with',
      '--parent BASE.vhdx makes a differencing child of BASE holding only the sectors that differ',
      'from it (into a file; as qemu-img convert -B). An existing VHDX that a child beside it reads',
      'through is not replaced without --force.',
    ],
  },
  info: {
    synopsis: 'vhdx info <input> [--json]',
    about: [
      'Prints what a VHDX holds (a raw disk: its format and size, as qemu-img info shows it):',
      'image name, format, virtual size, disk size (bytes the file takes',
      'on disk; unknown for URLs and stdin), type, block and sector sizes, log state, GUIDs, regions.',
      'JSON numbers are numbers; headerSequenceNumber is a string only when it is 2^53 or more.',
      'A differencing VHDX: every level of its chain (path, type, block size, allocated bytes,',
      'and its link to its parent: ok, mismatch, missing or none).',
    ],
  },
  check: {
    synopsis: 'vhdx check <input> [-r all] [--json]',
    about: [
      'Lists every problem in a VHDX, one a line in file order: code, reason, structure, offset',
      `and what is wrong. Exit 0 when there is none (a dirty log is not a problem), 3 when there are.`,
      'A differencing VHDX: every level of its chain and the links, each problem with its level;',
      'a parent accepted with --ignore-linkage is a warning, not a problem.',
      'With -r all the file is repaired in place first (see vhdx repair --help), one line per',
      'action, then checked. -r leaks is refused: a VHDX has no reference counts to leak.',
    ],
  },
  create: {
    synopsis: 'vhdx create <child> --parent <parent>',
    about: [
      'Creates an empty differencing VHDX (.avhdx) over <parent>: it reads as the parent reads.',
      "Its parent locator holds the parent's DataWriteGuid and its path relative to <child>.",
      'To make a child holding only what differs from a parent: vhdx convert new.raw child.avhdx',
      '--parent base.vhdx (a raw file input, a file output).',
    ],
  },
  ...INPLACE_USAGE,
  repair: {
    synopsis: 'vhdx repair <file>',
    about: [
      'Repairs a VHDX in place, as qemu-img check -r all does (the same as vhdx check -r all):',
      'replays a dirty log onto the file, clears an active log with nothing to replay, grows the',
      "file to the log's LastFileOffset; prints one line per action, then checks the file.",
      'A clean file is not written. A log damaged beyond what MS-VHDX recovers is refused and',
      'nothing is written (exit 1).',
    ],
  },
  measure: {
    synopsis: 'vhdx measure <input> [options]',
    about: [
      'Prints the size the VHDX made from <input> will take: required (all-zero blocks left out,',
      'from a scan of the input) and fully allocated (every block stored). <input> is a file,',
      'an http(s) URL (streamed), or - for a stdin redirected from a file.',
    ],
  },
};

/** The options' help lines; for one command's help, `topic` picks what each option does for it. */
function optionLines(options: readonly OptionSpec[], topic?: CommandName): string[] {
  const left = (o: OptionSpec) => `${o.short ? `-${o.short}, ` : '    '}--${o.long}${o.value ? ` ${o.value}` : ''}`;
  const width = Math.max(...options.map((o) => left(o).length)) + 2;
  return options.map((o) => `  ${left(o).padEnd(width)}${(topic && o.helpFor?.[topic]) ?? o.help}`);
}

const EXIT_CODES = ['Exit codes:', ...EXIT_CODE_LINES.map((l) => `  ${l}`)];

/** The help for `vhdx --help` (no topic) or for one command. */
export function helpText(topic?: CommandName): string {
  if (topic) {
    const { synopsis, about } = USAGE[topic];
    const own = OPTIONS.filter((o) => o.commands !== 'global' && appliesTo(o, topic));
    const global = OPTIONS.filter((o) => o.commands === 'global');
    return [`Usage: ${synopsis}`, '', ...about, '', 'Options:', ...optionLines([...own, ...global], topic), '', ...EXIT_CODES].join('\n');
  }
  const commands = (Object.keys(USAGE) as CommandName[]).map((c) => `  ${USAGE[c].synopsis}`);
  return [
    'vhdx — convert raw disk images to VHDX and back',
    '',
    'Usage:',
    ...commands,
    '  vhdx --help | --version',
    '',
    'The output format is -O/--to when given, else the output name (.vhdx, .avhdx: VHDX;',
    '.raw, .img, .bin: raw); a file named neither needs -O, stdout gets the other format of',
    'the input. Sizes take binary units (4096, 32M, 1.5G, 2T); sizes and counts in reports',
    'are in bytes; JSON keys are camelCase.',
    '',
    'Options (each command takes those listed in its own --help):',
    ...optionLines(OPTIONS),
    '',
    ...EXIT_CODES,
  ].join('\n');
}

/** `vhdx --version`: the package's name and version. */
export function versionText(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  return `vhdx (${pkg.name}) ${pkg.version}`;
}
