// What a region holds, from the signatures at its start. Only ext4 is read;
// the others are named so the report can say what was skipped.
import { readAscii } from '../format/bytes.js';
import type { RegionReader } from './read.js';
import type { FilesystemKind } from './types.js';

/** Offset of the ext2/3/4 superblock in its region, and of its magic inside it. */
export const EXT4_SUPERBLOCK = 1024;
export const EXT4_MAGIC_AT = 0x38;
export const EXT4_MAGIC = 0xef53;

/** True when `head` (a region's first bytes, at least 2 KiB) holds the ext2/3/4 magic. */
export function hasExt4Magic(head: Uint8Array): boolean {
  const at = EXT4_SUPERBLOCK + EXT4_MAGIC_AT;
  return head.length >= at + 2 && (head[at]! | (head[at + 1]! << 8)) === EXT4_MAGIC;
}

const HEAD = 4096;

/** Names the filesystem (or volume format) at the start of `region`. */
export async function probeFilesystem(region: RegionReader): Promise<FilesystemKind> {
  if (region.length < HEAD) return 'unknown';
  const head = await region.at(0, HEAD, 'the first 4 KiB');
  if (hasExt4Magic(head)) return 'ext4';
  if (readAscii(head, 3, 8) === 'NTFS    ') return 'ntfs';
  if (readAscii(head, 82, 5) === 'FAT32' || readAscii(head, 54, 4) === 'FAT1') return 'fat';
  if (readAscii(head, 0, 4) === 'XFSB') return 'xfs';
  if (readAscii(head, 4086, 10) === 'SWAPSPACE2' || readAscii(head, 4086, 10) === 'SWAP-SPACE') return 'swap';
  if (readAscii(head, 512, 8) === 'LABELONE') return 'lvm';
  if (readAscii(head, 0, 6) === 'LUKS\xba\xbe') return 'luks';
  if (region.holds(0x10040, 8)) {
    const btrfs = await region.at(0x10040, 8, 'the btrfs magic');
    if (readAscii(btrfs, 0, 8) === '_BHRfS_M') return 'btrfs';
  }
  return 'unknown';
}
