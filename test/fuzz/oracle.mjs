// The fuzz oracle: any input ends, within a time bound, in correct output or
// a VhdxError; when both the random-access reader and the stream succeed they
// give the same bytes. A differencing input comes with its parent's bytes:
// openVhdx and checkVhdx take them as `parent`, the stream an image opened
// from them. A file that opens is also opened writable, on a copy in memory,
// and gets a few seeded writes and discards: each ends in success or a
// VhdxError, no write lands outside the file's structures (see writeCase),
// and the last write reads back. Returns a problem string, or undefined when
// all is well.

const MiB = 1024 * 1024;

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`TIMEOUT: ${what} took over ${ms} ms`)), ms);
    }),
  ]);
}

function byteStream(bytes, chunk = MiB) {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.subarray(at, Math.min(bytes.length, at + chunk)));
      at += chunk;
    },
  });
}

async function streamPrefix(lib, bytes, cap, options) {
  const input = byteStream(bytes);
  const reader = input.pipeThrough(new lib.VhdxDecoderStream(options)).getReader();
  const out = new Uint8Array(cap);
  let n = 0;
  while (n < cap) {
    const { value, done } = await reader.read();
    if (done) break;
    const take = Math.min(value.length, cap - n);
    out.set(value.subarray(0, take), n);
    n += take;
  }
  await reader.cancel().catch(() => {});
  return out.subarray(0, n);
}

async function randomPrefix(lib, bytes, cap, options) {
  const image = await lib.openVhdx(bytes, options);
  try {
    const n = Math.min(cap, image.info.virtualSize);
    image.extents({ start: 0, end: n });
    await image.check();
    return await image.read(0, n);
  } finally {
    await image.close();
  }
}

/**
 * @param {any} lib
 * @param {Uint8Array} bytes
 * @param {{ cap?: number; timeoutMs?: number; options?: Record<string, unknown>; parent?: Uint8Array; write?: boolean }} [how]
 *   `write: false` leaves out the writable open (default true)
 */
export async function runCase(lib, bytes, how = {}) {
  const { cap = MiB, timeoutMs = 10_000, options = { maxBufferBytes: 32 * MiB }, parent, write = true } = how;
  if (parent) return runChildCase(lib, bytes, parent, { cap, timeoutMs, options, write });
  return runWith(lib, bytes, { cap, timeoutMs, write }, options, options);
}

/** A differencing child: the parent is opened once for the stream (and closed after). */
async function runChildCase(lib, bytes, parentBytes, { cap, timeoutMs, options, write }) {
  const parent = await lib.openVhdx(parentBytes);
  try {
    return await runWith(lib, bytes, { cap, timeoutMs, write }, { ...options, parent: parentBytes }, { ...options, parent });
  } finally {
    await parent.close();
  }
}

/** A file in memory that stores only the 64 KiB pages written with something other than zeros past its start (mutated block sizes reach 256 MiB). */
class SparseFile {
  static PAGE = 64 * 1024;
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    /** @type {Map<number, Uint8Array>} */
    this.pages = new Map();
    this.size = bytes.length;
    for (let at = 0; at < bytes.length; at += SparseFile.PAGE) this.pages.set(at / SparseFile.PAGE, bytes.slice(at, at + SparseFile.PAGE));
    /** @type {({ kind: 'write'; position: number; length: number } | { kind: 'truncate'; size: number })[]} */
    this.ops = [];
  }
  /** @param {number} offset @param {number} length */
  read(offset, length) {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = new Uint8Array(n);
    for (let done = 0; done < n; ) {
      const at = offset + done;
      const page = Math.floor(at / SparseFile.PAGE);
      const within = at - page * SparseFile.PAGE;
      const take = Math.min(n - done, SparseFile.PAGE - within);
      const p = this.pages.get(page);
      if (p) out.set(p.subarray(within, Math.min(p.length, within + take)), done);
      done += take;
    }
    return out;
  }
  /** @param {Uint8Array} data @param {number} position */
  write(data, position) {
    this.ops.push({ kind: 'write', position, length: data.length });
    for (let done = 0; done < data.length; ) {
      const at = position + done;
      const page = Math.floor(at / SparseFile.PAGE);
      const within = at - page * SparseFile.PAGE;
      const take = Math.min(data.length - done, SparseFile.PAGE - within);
      const piece = data.subarray(done, done + take);
      let p = this.pages.get(page);
      if (!p && piece.some((b) => b !== 0)) {
        p = new Uint8Array(SparseFile.PAGE);
        this.pages.set(page, p);
      }
      if (p) {
        if (p.length < within + take) {
          const grown = new Uint8Array(SparseFile.PAGE);
          grown.set(p);
          this.pages.set(page, grown);
          p = grown;
        }
        p.set(piece, within);
      }
      done += take;
    }
    this.size = Math.max(this.size, position + data.length);
  }
  /** @param {number} size */
  truncate(size) {
    this.ops.push({ kind: 'truncate', size });
    if (size < this.size) throw new Error(`the file was shrunk from ${this.size} to ${size}`);
    this.size = size;
  }
  flush() {}
  /** The file as it stands, for a read-only open (no copy: a log may target offsets far past the end). */
  view() {
    const size = this.size;
    return { size, read: async (/** @type {number} */ offset, /** @type {number} */ length) => this.read(offset, length) };
  }
}

/** A small deterministic generator (xorshift32) from the file's bytes. */
function seededRandom(bytes) {
  let x = 0x9e3779b9;
  for (let i = 0; i < bytes.length; i += 4093) x = Math.imul(x ^ bytes[i], 0x01000193) >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const HEADER_SLOTS = [
  [64 * 1024, 68 * 1024],
  [128 * 1024, 132 * 1024],
];

/**
 * Where a writable open may write after it opened: the header slots, the log,
 * BAT and metadata regions the file declares, the blocks its BAT maps (read
 * from the file as it stands after the open, a replayed log included), its
 * sector bitmap blocks, and anything past its end (new blocks). Before the open returns, a log replay
 * writes where its entries say: anywhere past the header section outside the log.
 */
async function allowedRanges(lib, after, options) {
  const image = await lib.openVhdx(after, options);
  const fileSize = after.size;
  try {
    const { regions, blockSize, virtualSize } = image.info;
    const ranges = [...HEADER_SLOTS, ...regions.map((r) => [r.offset, r.offset + r.length])];
    for (const e of image.extents({ start: 0, end: virtualSize }))
      if (e.kind === 'data' && e.level === 0) {
        // an extent may run over blocks that lie one after the other in the file: every one of them, whole
        const start = e.fileOffset - (e.offset % blockSize);
        const lastByte = e.offset + e.length - 1;
        ranges.push([start, e.fileOffset + e.length - 1 - (lastByte % blockSize) + blockSize]);
      }
    // a differencing file's sector bitmap blocks (1 MiB each) that its BAT maps: bits are set there
    for (const at of image.loadedModel.bitmapOffsetsMiB ?? []) if (at !== 0) ranges.push([at * MiB, (at + 1) * MiB]);
    ranges.push([fileSize, Number.MAX_SAFE_INTEGER]);
    return { ranges, log: regions.find((r) => r.name === 'log') };
  } finally {
    await image.close();
  }
}

const inside = (ranges, start, end) => ranges.some(([a, b]) => start >= a && end <= b);

/** A writable open of a copy, a few seeded writes and discards, close; returns a problem or undefined. */
async function writeCase(lib, bytes, options) {
  const file = new SparseFile(bytes);
  const random = seededRandom(bytes);
  const readOnly = { ...options };
  let image;
  try {
    image = await lib.openVhdx(file, { ...options, writable: true });
  } catch (err) {
    if (err instanceof lib.VhdxError) return undefined;
    throw err;
  }
  const opened = file.ops.length;
  const { ranges, log } = await allowedRanges(lib, file.view(), readOnly);
  for (const op of file.ops.slice(0, opened)) {
    if (op.kind !== 'write') continue;
    const replay = op.position >= MiB && (!log || op.position + op.length <= log.offset || op.position >= log.offset + log.length);
    if (!replay && !inside(HEADER_SLOTS, op.position, op.position + op.length))
      return `the writable open wrote ${op.length} bytes at ${op.position}, outside the header slots and the replay's targets`;
  }
  const size = image.info.virtualSize;
  const data = new Uint8Array(70_000);
  let last;
  try {
    for (let i = 0; i < 4; i++) {
      const length = 1 + random(i === 3 ? 70_000 : 3 * MiB);
      const offset = random(Math.max(1, size - Math.min(length, size)));
      const n = Math.min(length, size - offset);
      if (n <= 0) continue;
      if (i === 1) await image.discard(offset, n);
      else {
        const piece = n <= data.length ? data.subarray(0, n).fill(0x40 + i) : new Uint8Array(n).fill(0x40 + i);
        await image.write(offset, piece);
        last = { offset, piece: piece.slice() };
      }
    }
    await image.flush();
    await image.close();
  } catch (err) {
    await image.close().catch(() => {});
    if (!(err instanceof lib.VhdxError)) throw err;
    last = undefined;
  }
  for (const op of file.ops.slice(opened)) {
    if (op.kind === 'write' && !inside(ranges, op.position, op.position + op.length))
      return `a write of ${op.length} bytes at ${op.position} lies outside the file's structures and its blocks`;
  }
  if (last) {
    const reopened = await lib.openVhdx(file.view(), readOnly);
    try {
      const back = await reopened.read(last.offset, last.piece.length);
      if (!Buffer.from(back).equals(Buffer.from(last.piece)))
        return `the last write (${last.piece.length} bytes at ${last.offset}) does not read back`;
    } finally {
      await reopened.close();
    }
  }
  return undefined;
}

async function runWith(lib, bytes, { cap, timeoutMs, write }, options, streamOptions) {
  const outcome = async (fn, what) => {
    try {
      return { data: await withTimeout(fn(), timeoutMs, what) };
    } catch (/** @type {any} */ err) {
      if (err instanceof lib.VhdxError) return { code: err.code };
      const e = /** @type {any} */ (err);
      return { problem: `${what} threw ${e?.name ?? typeof e}: ${e?.message ?? String(e)}` };
    }
  };
  const a = await outcome(() => randomPrefix(lib, bytes, cap, options), 'openVhdx');
  if (a.problem) return a.problem;
  const b = await outcome(() => streamPrefix(lib, bytes, cap, streamOptions), 'VhdxDecoderStream');
  if (b.problem) return b.problem;
  if (!a.data) {
    // openVhdx refused the file: checkVhdx must still answer with a report,
    // and name a problem unless the file is merely unsupported
    const c = await outcome(async () => {
      const report = await lib.checkVhdx(bytes, options);
      if (!Array.isArray(report.problems)) throw new Error('malformed report');
      if (a.code !== 'UNSUPPORTED' && (report.ok !== false || report.problems.length === 0))
        throw new Error(`checkVhdx passed a file openVhdx refused with ${a.code}`);
    }, 'checkVhdx');
    if (c.problem) return c.problem;
  }
  if (a.data && write) {
    const w = await outcome(async () => {
      const problem = await writeCase(lib, bytes, options);
      if (problem) throw new Error(problem);
    }, 'writable openVhdx');
    if (w.problem) return w.problem;
  }
  if (a.data && b.data) {
    const n = Math.min(a.data.length, b.data.length);
    const x = Buffer.from(a.data.buffer, a.data.byteOffset, n);
    const y = Buffer.from(b.data.buffer, b.data.byteOffset, n);
    if (!x.equals(y)) {
      let i = 0;
      while (x[i] === y[i]) i++;
      return `openVhdx and the stream differ at virtual offset ${i}`;
    }
  }
  return undefined;
}
