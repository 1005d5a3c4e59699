// The file seam: one shape for a file, whatever holds it (a Node descriptor,
// an OPFS access handle, a Blob, bytes in memory, an HTTP server answering
// Range requests, a caller's own object). image/ reads through the reading
// half, the writers write through the writing half, and an editor changing a
// file in place holds both. Each runtime adapts its files to it once.

/**
 * The reading half of a file: bytes at an offset. The common shape behind
 * files, Blobs, byte arrays and HTTP Range reads.
 */
export interface ReadableFile {
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
  /**
   * Optional: where the file's holes are, as its file system says (a hole
   * reads as zeros). Only files that can ask have it (see src/node/holes.ts).
   */
  readonly holes?: HoleMap;
}

/** A file's holes, asked of the file system on demand (nothing is listed up front). */
export interface HoleMap {
  /** The first offset at or after `position` that holds data; the file's size when none does. */
  nextData(position: number): number;
  /** The first offset at or after `position` that lies in a hole; the file's size counts as one. */
  nextHole(position: number): number;
}

/** The writing half of a file: bytes put at a position. A new output has only this half. */
export interface WritableFile {
  write(data: Uint8Array, position: number): Promise<void>;
  /** Sets the size (drops or adds zeros at the end); absent where the target cannot. */
  truncate?(size: number): Promise<void>;
  /** Makes every write that completed durable; absent where the target has no such notion. */
  flush?(): Promise<void>;
  close(): Promise<void>;
  /**
   * Gives the file up after a failure, leaving what it held before as it
   * was where it can (a picked file's writable stream drops its pending
   * changes; a Node path output removes its temporary file).
   */
  discard?(): Promise<void>;
  /**
   * Writes at distinct positions may be in flight at once (a Node FileHandle's);
   * otherwise each is awaited before the next starts.
   */
  concurrentWrites?: boolean;
}

/**
 * Both halves: a file changed in place. Its `size` is the size when it was
 * opened; whoever writes it keeps track of the size from then on.
 */
export interface RandomAccessFile extends ReadableFile, WritableFile {
  truncate(size: number): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The reading half under the name the API has always used for a `{ size, read }` source. */
export type RandomAccessSource = ReadableFile;

/** What `openVhdx()` and `scanAllocation()` accept in every runtime. */
export type SourceInput =
  | Uint8Array
  | ArrayBuffer
  | Blob
  | URL
  | string // an http(s) URL; file paths are accepted by the Node entry
  | ReadableFile;

/**
 * A caller's own file that may be changed in place: both halves, with
 * results that may be plain values. `size` is read once, when it is opened.
 */
export interface CustomFile {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array> | Uint8Array;
  write(data: Uint8Array, position: number): unknown;
  truncate(size: number): unknown;
  /** Makes every completed write durable (fsync or its equivalent). */
  flush(): unknown;
  close?(): unknown;
}

/** The parts of an OPFS FileSystemSyncAccessHandle (worker-only type) this library uses. */
export interface SyncAccessHandleLike {
  getSize(): number;
  /** Needed to change a file in place (every real handle has it); a new output only writes. */
  read?(buffer: Uint8Array, options: { at: number }): number;
  write(data: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}
