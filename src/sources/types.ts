/**
 * Anything that can hand out bytes at an offset: the common shape behind
 * files, Blobs, byte arrays and HTTP Range reads.
 */
export interface RandomAccessSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes at `offset`. Must return exactly `length` bytes
   * unless the range runs past `size`.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: reads into a caller-owned buffer (no allocation per read).
   * Returns the number of bytes read.
   */
  readInto?(target: Uint8Array, offset: number): Promise<number>;
  /** Releases the underlying handle, if any. */
  close?(): Promise<void> | void;
}

/** What `openVhdx()` and `scanAllocation()` accept in every runtime. */
export type SourceInput =
  | Uint8Array
  | ArrayBuffer
  | Blob
  | URL
  | string // an http(s) URL; file paths are accepted by the Node entry
  | RandomAccessSource;
