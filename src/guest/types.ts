// What findUnusedRanges() answers: per partition (or the whole disk), the
// filesystem found there and which of its bytes no filesystem uses.

/** A stretch of the disk: `offset` and `length` in bytes. */
export interface DiskRange {
  offset: number;
  length: number;
}

/** How the disk is divided. `none`: no partition table; the whole disk is one region. */
export type PartitionTable = 'gpt' | 'mbr' | 'none';

/** What a region was found to hold. `ext4` stands for the whole ext2/3/4 family (one superblock format). */
export type FilesystemKind = 'ext4' | 'ntfs' | 'fat' | 'xfs' | 'btrfs' | 'swap' | 'lvm' | 'luks' | 'unknown';

/**
 * Why a region's filesystem was not read. A closed set: callers switch on it.
 * - `table-damaged`: the partition table fails its checksum or holds an impossible value.
 * - `table-ambiguous`: the disk reads both as a partition table and as a filesystem.
 * - `partition-overlap`: the region overlaps another partition or the table itself.
 * - `not-clean`: the filesystem was not cleanly unmounted, or records errors.
 * - `recovery-needed`: a journal replay (or orphan processing) is pending.
 * - `unknown-feature`: a feature flag this reader does not know.
 * - `unsupported-feature`: a known feature this reader does not read (e.g. bigalloc, meta_bg).
 * - `superblock-invalid`: a superblock field is out of range or contradicts another.
 * - `superblock-checksum`: the superblock's CRC-32C does not match.
 * - `descriptor-checksum`: a group descriptor's checksum does not match.
 * - `descriptor-invalid`: a group descriptor points outside its filesystem or holds an impossible value.
 * - `descriptors-unchecked`: the descriptors carry no checksum (neither gdt_csum nor metadata_csum), so damage could not be seen.
 * - `bitmap-checksum`: a block bitmap's CRC-32C does not match.
 * - `free-count-mismatch`: the free blocks a bitmap shows differ from its descriptor's count.
 * - `outside-region`: the filesystem claims more blocks than its partition holds.
 * - `over-limit`: the filesystem needs more memory than the options allow.
 */
export type GuestRefusal =
  | 'table-damaged'
  | 'table-ambiguous'
  | 'partition-overlap'
  | 'not-clean'
  | 'recovery-needed'
  | 'unknown-feature'
  | 'unsupported-feature'
  | 'superblock-invalid'
  | 'superblock-checksum'
  | 'descriptor-checksum'
  | 'descriptor-invalid'
  | 'descriptors-unchecked'
  | 'bitmap-checksum'
  | 'free-count-mismatch'
  | 'outside-region'
  | 'over-limit';

/** The filesystem was read; `free` lists the disk bytes it does not use. */
export interface TrimmedVerdict {
  kind: 'trimmed';
  /**
   * Disk byte ranges (not partition-relative) no file or metadata uses:
   * sorted, merged, each aligned inward to 4 KiB and at least `minRunBytes` long.
   */
  free: DiskRange[];
  /** Sum of `free` lengths. */
  freeBytes: number;
  /** Free bytes as the filesystem counts them (every free block, before alignment and the minimum run). */
  filesystemFreeBytes: number;
  /** Free ranges left out because `maxRanges` was reached (they stay as they are: safe). */
  rangesDropped: number;
}

/** The filesystem (or the table) was not trusted; nothing in the region is reported free. */
export interface RefusedVerdict {
  kind: 'refused';
  reason: GuestRefusal;
  message: string;
}

/** Nothing this reader reads (another filesystem, or none recognized); nothing is reported free. */
export interface SkippedVerdict {
  kind: 'skipped';
  message: string;
}

/** What became of one partition: its free space found, refused, or skipped. */
export type GuestVerdict = TrimmedVerdict | RefusedVerdict | SkippedVerdict;

/** One region of the disk: a partition, or the whole disk when there is no table. */
export interface GuestPartition {
  /** 1-based partition number as the table lists it (GPT entry index + 1, MBR 1..4, logical 5..); 0 for the whole disk. */
  index: number;
  /** Disk byte offset of the region. */
  offset: number;
  /** Length in bytes. */
  length: number;
  /** GPT type GUID (lowercase) or MBR type byte as two hex digits; `undefined` for the whole disk. */
  type?: string;
  /** A readable name: the GPT partition name, else the known name of its type. */
  name?: string;
  filesystem: FilesystemKind;
  verdict: GuestVerdict;
}

/** What {@link findUnusedRanges} found on a disk. */
export interface GuestReport {
  /**
   * The table found. When the table itself is refused (or the disk is
   * ambiguous), `partitions` holds one entry for the whole disk with that refusal.
   */
  table: PartitionTable;
  /** Logical sector size the table was read with (GPT: where its header was found; MBR: the option). */
  sectorSize: number;
  partitions: GuestPartition[];
  /** Every partition's `free` ranges together, sorted (partitions do not overlap, so neither do these). */
  free: DiskRange[];
  /** Sum of `free` lengths. */
  freeBytes: number;
  /** Partitions whose filesystem was read (verdict `trimmed`), refused, skipped. */
  trimmed: number;
  refused: number;
  skipped: number;
}

/** Options of {@link findUnusedRanges}. */
export interface GuestOptions {
  /**
   * Shortest free run reported, in bytes (after aligning inward to 4 KiB).
   * Default 64 KiB: shorter runs are rarely worth a discard, and the
   * compactor works in whole blocks of at least 1 MiB anyway. At least 4096.
   */
  minRunBytes?: number;
  /**
   * Most bytes held at once for descriptors and bitmaps (one read never
   * asks for more). Default 4 MiB; at least 128 KiB (two 64 KiB blocks).
   */
  maxBufferBytes?: number;
  /** Most free ranges kept per disk; past it, further free space is left out (reported as `rangesDropped`). Default 1,000,000. */
  maxRanges?: number;
  /** Sector size for an MBR (GPT finds its own). Default 512. */
  sectorSize?: 512 | 4096;
}
