// decodeVhdxChunks: the decoder core over chunks from a reader that reuses
// its buffer, as stdin is read.
import { describe, expect, it } from 'vitest';
import { VhdxEncoderStream, openVhdx, scanAllocation } from '../src/index.js';
import { decodeVhdxChunks } from '../src/node/decode-chunks.js';
import { blockPatternRaw, chunkedStream, collect, makeRaw } from './helpers/images.js';
import { makeDirty, type EntrySpec } from './helpers/dirty-log.js';
import { pseudoRandomBytes } from './helpers/reference.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { storedBlocks } from './helpers/vhdx-inspect.js';
import { reasonOf } from './helpers/reasons.js';

const MiB = 1024 * 1024;

/** `file` in chunks of `sizes`, all in one buffer that is overwritten once the consumer asks for the next. */
function reusedChunks(file: Uint8Array, sizes: number[]): { chunks: AsyncIterable<Uint8Array>; buffer: Uint8Array; closed: () => boolean } {
  const buffer = new Uint8Array(Math.max(...sizes));
  let closed = false;
  async function* chunks() {
    try {
      let i = 0;
      for (let at = 0; at < file.length; ) {
        const n = Math.min(sizes[i++ % sizes.length]!, file.length - at);
        buffer.set(file.subarray(at, at + n));
        yield buffer.subarray(0, n);
        buffer.fill(0xee);
        at += n;
      }
    } finally {
      closed = true;
    }
  }
  return { chunks: chunks(), buffer, closed: () => closed };
}

/** Decodes `file` from reused chunks; each piece is copied only once its (slow) write settles. */
async function decodeReused(file: Uint8Array, sizes = [MiB, 65536 * 3 + 1, 7777]) {
  const input = reusedChunks(file, sizes);
  const parts: Uint8Array[] = [];
  let views = 0;
  const result = await decodeVhdxChunks(input.chunks, async (piece) => {
    if (piece.buffer === input.buffer.buffer) views++;
    await new Promise((r) => setImmediate(r));
    parts.push(piece.slice());
  });
  return { ...result, raw: new Uint8Array(Buffer.concat(parts)), views };
}

async function randomRead(file: Uint8Array): Promise<Uint8Array> {
  const image = await openVhdx(file);
  return image.read(0, image.info.virtualSize);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

async function encode(raw: Uint8Array): Promise<Uint8Array> {
  const allocationMap = await scanAllocation(raw, { blockSize: MiB });
  return collect(chunkedStream(raw).pipeThrough(new VhdxEncoderStream({ allocationMap })));
}

describe('decodeVhdxChunks from a reused buffer', () => {
  it('an in-order file: the same bytes as openVhdx, payload written as views of the input', async () => {
    const raw = makeRaw(9 * MiB + 512, 'mixed', 21);
    const file = await encode(raw);
    const events: string[] = [];
    const out = await decodeVhdxChunks(reusedChunks(file, [MiB]).chunks, async () => void events.push('write'), {
      onInfo: (info) => void events.push(`info ${info.virtualSize}`),
    });
    expect(events[0]).toBe(`info ${raw.length}`);
    expect(events.filter((e) => e.startsWith('info'))).toHaveLength(1);
    expect(out.bytesWritten).toBe(raw.length);
    const { raw: decoded, views, info } = await decodeReused(file);
    expect(info.virtualSize).toBe(raw.length);
    expect(same(decoded, await randomRead(file))).toBe(true);
    expect(same(decoded, raw)).toBe(true);
    expect(views).toBeGreaterThan(0); // passed through, not copied
  });

  it.each(['reverse', 'bat-last'] as const)('a file with %s layout (held bytes are copies)', async (kind) => {
    const raw = blockPatternRaw(12 * MiB + 1024, MiB, (b) => b % 4 !== 1);
    const file = kind === 'reverse' ? buildSynthetic({ raw, order: 'reverse' }) : buildSynthetic({ raw, layout: 'bat-last' });
    const { raw: decoded } = await decodeReused(file);
    expect(same(decoded, await randomRead(file))).toBe(true);
    expect(same(decoded, raw)).toBe(true);
  });

  it('a file with a dirty log: the log’s changes applied', async () => {
    const raw = makeRaw(8 * MiB, 'mixed', 3);
    const clean = await encode(raw);
    const [, offset] = [...storedBlocks(clean, MiB, 512, 8).entries()][0]!;
    const entry: EntrySpec = {
      sequenceNumber: 5n,
      at: 0,
      tail: 0,
      writes: [
        { fileOffset: offset + 8192, data: pseudoRandomBytes(4096, 5) },
        { fileOffset: offset + 65536, zeroLength: 3 * 4096 },
      ],
      flushedFileOffset: clean.length,
      lastFileOffset: clean.length,
    };
    const dirty = makeDirty(clean, [entry]);
    const { raw: decoded, info } = await decodeReused(dirty);
    expect(info.log.state).toBe('dirty');
    expect(same(decoded, await randomRead(dirty))).toBe(true);
    expect(same(decoded, raw)).toBe(false); // the log changed something
    const lost = makeDirty(clean, [{ ...entry, flushedFileOffset: clean.length + MiB, lastFileOffset: clean.length + MiB }]);
    expect(await reasonOf(decodeReused(lost))).toBe('log-flushed-past-eof');
  });

  it('fails with input-truncated on a cut file, and passes a write error through as it is', async () => {
    const file = await encode(makeRaw(4 * MiB, 'data', 2));
    const cut = reusedChunks(file.subarray(0, file.length - 100), [MiB]);
    expect(await reasonOf(decodeVhdxChunks(cut.chunks, async () => {}))).toBe('input-truncated');
    const cause = new Error('disk full');
    const input = reusedChunks(file, [MiB]);
    await expect(decodeVhdxChunks(input.chunks, async () => Promise.reject(cause))).rejects.toBe(cause);
    expect(input.closed()).toBe(true); // the reader was told to stop
  });
});
