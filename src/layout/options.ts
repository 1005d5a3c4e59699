// Options for creating a VHDX, their defaults, and their validation. Every
// check runs before any byte flows, so a bad option never leaves half a file.
import { VhdxError } from '../errors.js';
import { MiB, TiB, isMultipleOf, isPowerOfTwo } from '../format/bytes.js';
import { isGuid, randomGuid } from '../format/guid.js';
import { MAX_BLOCK_SIZE, MAX_VIRTUAL_SIZE, MIN_BLOCK_SIZE } from '../format/metadata.js';

/** Options shared by every way of creating a VHDX. */
export interface VhdxCreateOptions {
  /**
   * Size of the virtual disk in bytes: a positive multiple of the logical
   * sector size, at most 64 TiB.
   */
  virtualSize?: number;
  /**
   * `'dynamic'` (default): blocks that hold only zeros can be left out.
   * `'fixed'`: every block is allocated and the file has a fixed size.
   */
  type?: 'dynamic' | 'fixed';
  /**
   * Payload block size: a power of two from 1 MiB to 256 MiB. Default: 8 MiB
   * for disks up to 4 TiB, 32 MiB above. Small blocks keep sparse files
   * compact (a block with one non-zero byte is stored whole); large blocks
   * keep the BAT small (one 8-byte entry per block, plus one per chunk).
   */
  blockSize?: number;
  /** 512 (default) or 4096. */
  logicalSectorSize?: 512 | 4096;
  /** 512 or 4096 (default: 4096, as Hyper-V writes). */
  physicalSectorSize?: 512 | 4096;
  /** Log size: a positive multiple of 1 MiB. Default 1 MiB. */
  logSize?: number;
  /** Creator string stored in the file identifier (at most 255 characters). */
  creator?: string;
  /** Fixed GUIDs for reproducible output; random (UUID v4) when omitted. */
  guids?: {
    fileWrite?: string;
    dataWrite?: string;
    virtualDisk?: string;
  };
}

/** The keys of VhdxCreateOptions, for functions that refuse options they do not take. */
export const CREATE_OPTION_KEYS = {
  virtualSize: true,
  type: true,
  blockSize: true,
  logicalSectorSize: true,
  physicalSectorSize: true,
  logSize: true,
  creator: true,
  guids: true,
} as const satisfies Record<keyof VhdxCreateOptions, true>;

/**
 * Refuses an option `fn` does not take (set to anything but undefined): a
 * misplaced option would otherwise be ignored and the result be another
 * file than the one asked for. `elsewhere` names where some keys belong.
 * @throws VhdxError `INVALID_ARGUMENT` (`invalid-option`)
 */
export function refuseOtherOptions(options: object, known: Record<string, true>, fn: string, elsewhere: Record<string, string> = {}): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || Object.hasOwn(known, key)) continue;
    const hint = elsewhere[key] ? ` (${elsewhere[key]})` : `; it takes ${Object.keys(known).join(', ')}`;
    throw bad(`${fn} does not take the option ${key}${hint}`, key);
  }
}

/** Options after defaults and validation. */
export interface ResolvedCreateOptions {
  virtualSize: number | undefined;
  type: 'dynamic' | 'fixed';
  blockSize: number;
  logicalSectorSize: 512 | 4096;
  physicalSectorSize: 512 | 4096;
  logSize: number;
  creator: string;
  fileWriteGuid: string;
  dataWriteGuid: string;
  virtualDiskId: string;
}

export const DEFAULT_CREATOR = 'vhdx-stream';

export function defaultBlockSize(virtualSize: number | undefined): number {
  return virtualSize !== undefined && virtualSize > 4 * TiB ? 32 * MiB : 8 * MiB;
}

function bad(message: string, field: string): VhdxError {
  return new VhdxError('invalid-option', message, { structure: 'options', field });
}

function sectorSize(value: unknown, field: string, fallback: 512 | 4096): 512 | 4096 {
  if (value === undefined) return fallback;
  if (value !== 512 && value !== 4096) throw bad(`must be 512 or 4096, got ${String(value)}`, field);
  return value;
}

function guid(value: unknown, field: string): string {
  if (value === undefined) return randomGuid();
  if (typeof value !== 'string' || !isGuid(value)) throw bad(`must be a GUID string, got ${String(value)}`, field);
  return value.toLowerCase();
}

/**
 * Applies defaults and validates. `sizeRequired` is false only for the
 * positional writer, which can learn the size from its input.
 * @throws VhdxError `invalid-option`, with the option's name in `field`.
 */
export function resolveCreateOptions(options: VhdxCreateOptions | undefined, sizeRequired: boolean): ResolvedCreateOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw bad('must be an object', 'options');
  const o = options ?? {};
  const logicalSectorSize = sectorSize(o.logicalSectorSize, 'logicalSectorSize', 512);
  const physicalSectorSize = sectorSize(o.physicalSectorSize, 'physicalSectorSize', 4096);
  const { virtualSize } = o;
  if (virtualSize === undefined) {
    if (sizeRequired) throw bad('is required', 'virtualSize');
  } else if (
    typeof virtualSize !== 'number' ||
    !Number.isSafeInteger(virtualSize) ||
    virtualSize <= 0 ||
    virtualSize > MAX_VIRTUAL_SIZE ||
    !isMultipleOf(virtualSize, logicalSectorSize)
  ) {
    throw bad(`must be a positive multiple of ${logicalSectorSize} up to 64 TiB, got ${String(virtualSize)}`, 'virtualSize');
  }
  const type = o.type ?? 'dynamic';
  if (type !== 'dynamic' && type !== 'fixed') throw bad(`must be 'dynamic' or 'fixed', got ${String(type)}`, 'type');
  if (type === 'fixed' && virtualSize === undefined) throw bad('is required for a fixed disk', 'virtualSize');
  const blockSize = o.blockSize ?? defaultBlockSize(virtualSize);
  if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw bad(`must be a power of two from 1 MiB to 256 MiB, got ${String(blockSize)}`, 'blockSize');
  }
  const logSize = o.logSize ?? MiB;
  if (typeof logSize !== 'number' || logSize <= 0 || !isMultipleOf(logSize, MiB) || logSize > 1024 * MiB) {
    throw bad(`must be a positive multiple of 1 MiB up to 1 GiB, got ${String(logSize)}`, 'logSize');
  }
  const creator = o.creator ?? DEFAULT_CREATOR;
  if (typeof creator !== 'string' || creator.length > 255) throw bad('must be a string of at most 255 characters', 'creator');
  return {
    virtualSize,
    type,
    blockSize,
    logicalSectorSize,
    physicalSectorSize,
    logSize,
    creator,
    fileWriteGuid: guid(o.guids?.fileWrite, 'guids.fileWrite'),
    dataWriteGuid: guid(o.guids?.dataWrite, 'guids.dataWrite'),
    virtualDiskId: guid(o.guids?.virtualDisk, 'guids.virtualDisk'),
  };
}
