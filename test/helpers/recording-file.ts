// A file in memory that keeps every write, truncate and flush in order, for
// rebuilding what a crash at any point could leave.
import type { CustomFile } from '../../src/sources/types.js';

export type FileOp = { kind: 'write'; position: number; data: Uint8Array } | { kind: 'truncate'; size: number } | { kind: 'flush' };

/** Bytes that grow as they are written; `ops` lists every change and flush. */
export class RecordingFile implements CustomFile {
  bytes: Uint8Array;
  private length: number;
  readonly ops: FileOp[] = [];

  constructor(
    initial: Uint8Array,
    private readonly record = true,
  ) {
    this.bytes = initial;
    this.length = initial.length;
  }

  get size(): number {
    return this.length;
  }

  /** The file's contents now. */
  contents(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  read(offset: number, length: number): Uint8Array {
    return this.bytes.slice(offset, Math.min(this.length, offset + length));
  }

  write(data: Uint8Array, position: number): void {
    if (this.record) this.ops.push({ kind: 'write', position, data: data.slice() });
    applyOp(this, { kind: 'write', position, data });
  }

  truncate(size: number): void {
    if (this.record) this.ops.push({ kind: 'truncate', size });
    applyOp(this, { kind: 'truncate', size });
  }

  flush(): void {
    if (this.record) this.ops.push({ kind: 'flush' });
  }

  /** @internal */
  setLength(n: number): void {
    if (n > this.bytes.length) {
      const grown = new Uint8Array(Math.max(n, Math.floor(this.bytes.length * 1.5)));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    } else if (n < this.length) this.bytes.fill(0, n, this.length);
    this.length = n;
  }
}

/** Applies one recorded change to `f` (flushes change nothing). */
export function applyOp(f: RecordingFile, op: FileOp): void {
  if (op.kind === 'write') {
    const end = op.position + op.data.length;
    if (end > f.size) f.setLength(end);
    f.bytes.set(op.data, op.position);
  } else if (op.kind === 'truncate') f.setLength(op.size);
}
