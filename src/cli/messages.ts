// Library errors in the words of the command line: an option the library
// names by its field (`blockSize`) is named by the flag the user typed
// (`--block-size`), and a message is printed without the location prefix
// VhdxError puts in front of it when the location is printed on its own.
import { describeFile, type VhdxError, type VhdxErrorLocation } from '../errors.js';
import { linkageError } from './chain.js';
import type { GivenOption } from './options.js';

/** The library's option fields, the flags that set them, and each flag's rule in command-line units. */
const FLAGS: Record<string, { long: string; rule: string }> = {
  blockSize: { long: 'block-size', rule: 'must be a power of two from 1M to 256M' },
  logSize: { long: 'log-size', rule: 'must be a multiple of 1M from 1M to 1G' },
  virtualSize: { long: 'size', rule: 'must be a multiple of the logical sector size from 512 bytes to 64T' },
  logicalSectorSize: { long: 'logical-sector-size', rule: 'must be 512 or 4096' },
  physicalSectorSize: { long: 'physical-sector-size', rule: 'must be 512 or 4096' },
  type: { long: 'type', rule: 'must be dynamic or fixed' },
};

/**
 * `message` split from the "structure field at offset N (0x…): " prefix that
 * VhdxError's constructor builds from the same location, for callers that
 * print the location themselves: the field it named (a problem report keeps
 * no field of its own) and the rest. A message without that prefix is kept whole.
 */
export function splitMessage(message: string, where: VhdxErrorLocation): { field?: string; text: string } {
  if (!where.structure) return { text: message };
  const offset = where.offset === undefined ? '' : ` at offset ${where.offset} (0x${where.offset.toString(16)})`;
  // without a field of its own, any one word may stand there, where the offset makes the prefix unmistakable
  const field = where.field !== undefined ? `( ${escapeRegExp(where.field)})` : offset !== '' ? '( [^\\s:]+)?' : '()';
  const m = new RegExp(`^${escapeRegExp(where.structure)}${field}${escapeRegExp(offset)}: `).exec(message);
  if (!m) return { text: message };
  const text = message.slice(m[0].length);
  return m[1] ? { field: m[1].slice(1), text } : { text };
}

/** `message` without the location prefix (see {@link splitMessage}). */
export function bareMessage(message: string, where: VhdxErrorLocation): string {
  return splitMessage(message, where).text;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * What the command line prints for a library error: an invalid option named
 * by its flag (as typed, with the value as typed), `--size` for an input
 * longer than the disk, `--s3-checksum` for a store refusing the checksum
 * headers, and every other message as the library wrote it.
 */
export function describeError(e: VhdxError, typed: ReadonlyMap<string, GivenOption>): string {
  if (e.reason === 'parent-linkage-mismatch' && e.linkage) {
    // the library names its option; the command line words it with its flags
    return `${e.file ? `${describeFile(e.file)}: ` : ''}${linkageError(e.linkage)}`;
  }
  if (e.reason === 'checksum-refused') {
    // the library names its `checksum` option (in the location prefix too); the command line names --s3-checksum
    const flag = typed.get('s3-checksum')?.typed ?? '--s3-checksum';
    return bareMessage(e.message, e).replace(
      /checksum '([a-z-]+)': set the option checksum: '([a-z-]+)'(?: \(or '([a-z-]+)'\))?$/,
      (_, asked: string, next: string, or?: string) => `${flag} ${asked}: give ${flag} ${next}${or ? ` (or ${or})` : ''}`,
    );
  }
  if (e.reason === 'input-too-long') {
    const size = typed.get('size');
    if (size) return `${size.typed} ${String(size.value)} is smaller than the input`;
  }
  if (e.code === 'INVALID_ARGUMENT' && e.structure === 'options' && e.field !== undefined) {
    const flag = FLAGS[e.field];
    if (flag) {
      const given = typed.get(flag.long);
      const bare = bareMessage(e.message, e);
      // a rule stated in the library's units ("…, got 3145728") is restated in the flag's, with the value as typed;
      // what the library says about the value itself (the nearest whole sector) is kept
      if (given && bare.includes(', got ')) return `${given.typed} ${flag.rule}, got ${String(given.value)}`;
      return `${given?.typed ?? `--${flag.long}`} ${bare}`;
    }
  }
  return e.message;
}
