// planVhdx / renderVhdxPart: the parts, concatenated, are the one-pass
// encoder's output byte for byte; the plan is plain JSON that other
// processes render identically from; a >5 GiB output is planned and a few
// of its parts rendered and checked without rendering the rest.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VhdxEncoderStream, type VhdxError, combineCrc32c, crc32c, planVhdx, renderVhdxPart, type VhdxPlan } from '../src/index.js';
import { EncoderCore } from '../src/streams/encoder-core.js';
import { ready } from '../src/wasm/instance.js';
import type { AllocationMap } from '../src/sources/scan.js';
import { blockPatternRaw, chunkedStream, collect } from './helpers/images.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const GUIDS = {
  fileWrite: '11111111-2222-4333-8444-555555555555',
  dataWrite: '21111111-2222-4333-8444-555555555555',
  virtualDisk: '31111111-2222-4333-8444-555555555555',
};

function mapOf(raw: Uint8Array, blockSize: number): AllocationMap {
  const present = new Uint8Array(Math.ceil(raw.length / blockSize));
  for (let b = 0; b < present.length; b++) present[b] = raw.subarray(b * blockSize, (b + 1) * blockSize).some((x) => x !== 0) ? 1 : 0;
  return { virtualSize: raw.length, blockSize, present };
}

const readerOf = (raw: Uint8Array) => async (offset: number, length: number) => raw.slice(offset, offset + length);

async function renderAll(plan: VhdxPlan, raw: Uint8Array) {
  const parts = [];
  for (let i = 0; i < plan.partCount; i++) parts.push(await renderVhdxPart(plan, i, readerOf(raw)));
  return parts;
}

const concat = (pieces: Uint8Array[]) => Buffer.concat(pieces);

interface Shape {
  name: string;
  raw: Uint8Array;
  options: { blockSize: number; type?: 'fixed'; logicalSectorSize?: 4096; map: boolean };
}

const shapes: Shape[] = [
  {
    name: 'dynamic, mixed blocks, size not a block multiple',
    raw: blockPatternRaw(21 * MiB + 3 * 512, MiB, (b) => b % 3 !== 1 && b !== 4),
    options: { blockSize: MiB, map: true },
  },
  {
    name: 'dynamic, no map (every block stored), 4096-byte sectors',
    raw: blockPatternRaw(14 * MiB, 2 * MiB, (b) => b % 2 === 0),
    options: { blockSize: 2 * MiB, logicalSectorSize: 4096, map: false },
  },
  { name: 'fixed', raw: blockPatternRaw(9 * MiB, MiB, (b) => b === 3), options: { blockSize: MiB, type: 'fixed', map: false } },
  { name: 'dynamic, all zero (no stored block)', raw: new Uint8Array(12 * MiB), options: { blockSize: MiB, map: true } },
];

describe('planVhdx and renderVhdxPart', () => {
  for (const shape of shapes) {
    it(`concatenated parts equal VhdxEncoderStream's output: ${shape.name}`, async () => {
      await ready();
      const { map, ...rest } = shape.options;
      const base = { virtualSize: shape.raw.length, ...rest, ...(map ? { allocationMap: mapOf(shape.raw, rest.blockSize) } : {}) };
      const encoder = new VhdxEncoderStream({ ...base, guids: GUIDS });
      const expected = await collect(chunkedStream(shape.raw, [MiB + 7, 3 * MiB]).pipeThrough(encoder));
      for (const partSize of [5 * MiB, 5 * MiB + 4096, 64 * MiB]) {
        const plan = planVhdx({ ...base, guids: GUIDS, partSize });
        expect(plan.outputSize).toBe(encoder.outputSize);
        expect(plan.partCount).toBe(Math.ceil(expected.length / partSize));
        const parts = await renderAll(plan, shape.raw);
        for (const p of parts.slice(0, -1)) expect(p.bytes.length).toBe(partSize); // equal parts but the last
        expect(Buffer.from(concat(parts.map((p) => p.bytes))).equals(Buffer.from(expected)), `partSize ${partSize}`).toBe(true);
        for (const p of parts) expect(p.crc).toBe(crc32c(p.bytes));
        expect(combineCrc32c(parts.map((p) => ({ crc: p.crc, length: p.bytes.length })))).toBe(crc32c(expected));
      }
    });
  }

  it('fixes GUIDs drawn once in the plan; the plan survives JSON and renders the same bytes', async () => {
    const raw = shapes[0]!.raw;
    const plan = planVhdx({ virtualSize: raw.length, blockSize: MiB, allocationMap: mapOf(raw, MiB), partSize: 5 * MiB });
    const copy = JSON.parse(JSON.stringify(plan)) as VhdxPlan;
    expect(copy).toEqual(plan);
    const [a, b] = [await renderAll(plan, raw), await renderAll(copy, raw)];
    for (const [i, p] of a.entries()) expect(Buffer.from(p.bytes).equals(Buffer.from(b[i]!.bytes))).toBe(true);
    // the same bytes as an encoder given the plan's GUIDs
    const expected = await collect(
      chunkedStream(raw).pipeThrough(
        new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB, allocationMap: mapOf(raw, MiB), guids: plan.options.guids }),
      ),
    );
    expect(Buffer.from(concat(a.map((p) => p.bytes))).equals(Buffer.from(expected))).toBe(true);
  });

  describe('in separate processes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vhdx-parts-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('two processes rendering from one JSON plan give the bytes this process renders (dist/, run npm run build:ts first)', async () => {
      const raw = shapes[0]!.raw;
      const plan = planVhdx({ virtualSize: raw.length, blockSize: MiB, allocationMap: mapOf(raw, MiB), partSize: 5 * MiB });
      writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));
      writeFileSync(join(dir, 'disk.raw'), raw);
      const script = `
        import { readFileSync, writeFileSync, openSync, readSync } from 'node:fs';
        const { renderVhdxPart } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
        const [dir, first, step] = process.argv.slice(1);
        const plan = JSON.parse(readFileSync(dir + '/plan.json', 'utf8'));
        const fd = openSync(dir + '/disk.raw', 'r');
        const readRaw = async (offset, length) => { const b = new Uint8Array(length); readSync(fd, b, 0, length, offset); return b; };
        for (let i = Number(first); i < plan.partCount; i += Number(step)) {
          const part = await renderVhdxPart(plan, i, readRaw);
          writeFileSync(dir + '/part' + i, part.bytes);
          writeFileSync(dir + '/part' + i + '.crc', String(part.crc));
        }`;
      for (const first of [0, 1]) {
        const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, dir, String(first), '2'], {
          encoding: 'utf8',
          timeout: 60_000,
        });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
      }
      const here = await renderAll(plan, raw);
      for (const p of here) {
        expect(Buffer.from(p.bytes).equals(readFileSync(join(dir, `part${p.index}`))), `part ${p.index}`).toBe(true);
        expect(Number(readFileSync(join(dir, `part${p.index}.crc`), 'utf8'))).toBe(p.crc);
      }
    });
  });

  it('plans a >5 GiB output and renders its first, a middle and its last part without the others', async () => {
    await ready();
    const virtualSize = 7 * GiB + 5 * MiB; // the last 32 MiB block is partly past the disk
    const blockSize = 32 * MiB;
    const present = new Uint8Array(Math.ceil(virtualSize / blockSize)).map((_, b) => (b % 5 === 2 ? 0 : 1));
    const options = { virtualSize, blockSize, allocationMap: { virtualSize, blockSize, present }, guids: GUIDS };
    const plan = planVhdx(options);
    expect(plan.outputSize).toBeGreaterThan(5 * GiB);
    expect(plan.partSize).toBe(16 * MiB);
    expect(plan.partCount).toBe(Math.ceil(plan.outputSize / plan.partSize));
    // a raw disk whose every 4-byte word holds its own offset / 4: any misplaced byte shows
    const reads: [number, number][] = [];
    const readRaw = async (offset: number, length: number) => {
      reads.push([offset, length]);
      const words = new Uint32Array(length / 4);
      for (let i = 0; i < words.length; i++) words[i] = offset / 4 + i;
      return new Uint8Array(words.buffer);
    };
    let prefix!: Uint8Array;
    new EncoderCore(options, (piece) => {
      prefix = piece;
    }).start();
    const stored: number[] = [];
    for (const [b, p] of present.entries()) if (p) stored.push(b);
    const expectedAt = (fileOffset: number): number => {
      // the word the encoder puts at this file offset (payload only)
      const rel = fileOffset - plan.payloadOffset;
      const rawOffset = stored[Math.floor(rel / blockSize)]! * blockSize + (rel % blockSize);
      return rawOffset < virtualSize ? rawOffset / 4 : 0;
    };
    for (const index of [0, Math.floor(plan.partCount / 2), plan.partCount - 1]) {
      const part = await renderVhdxPart(plan, index, readRaw);
      expect(part.offset).toBe(index * plan.partSize);
      expect(part.bytes.length).toBe(Math.min(plan.partSize, plan.outputSize - part.offset));
      const words = new Uint32Array(part.bytes.buffer, part.bytes.byteOffset, part.bytes.length / 4);
      for (let w = 0; w < words.length; w += 4099) {
        const at = part.offset + w * 4;
        const want = at < plan.payloadOffset ? new DataView(prefix.buffer).getUint32(at, true) : expectedAt(at);
        expect(words[w], `part ${index} word ${w}`).toBe(want);
      }
      expect(part.crc).toBe(crc32c(part.bytes));
    }
    // only the stored raw ranges inside those three parts were read
    expect(reads.reduce((n, [, len]) => n + len, 0)).toBeLessThanOrEqual(3 * plan.partSize);
  });

  it('refuses part sizes outside 5 MiB..5 GiB or past 10,000 parts, and parts outside the plan', async () => {
    const reason = (run: () => unknown) => {
      try {
        run();
      } catch (e) {
        return [(e as VhdxError).reason, (e as VhdxError).field];
      }
      return 'no error';
    };
    expect(reason(() => planVhdx({ virtualSize: 64 * MiB, partSize: 5 * MiB - 1 }))).toEqual(['invalid-option', 'partSize']);
    expect(reason(() => planVhdx({ virtualSize: 64 * MiB, partSize: 5 * GiB + 1 }))).toEqual(['invalid-option', 'partSize']);
    expect(reason(() => planVhdx({ virtualSize: 64 * GiB, partSize: 5 * MiB }))).toEqual(['invalid-option', 'partSize']);
    expect(planVhdx({ virtualSize: 64 * GiB }).partCount).toBeLessThanOrEqual(10_000); // the default fits
    const plan = planVhdx({ virtualSize: 8 * MiB, blockSize: MiB });
    await expect(renderVhdxPart(plan, 1, readerOf(new Uint8Array(8 * MiB)))).rejects.toMatchObject({
      reason: 'invalid-option',
      field: 'index',
    });
    await expect(renderVhdxPart({ ...plan, outputSize: plan.outputSize + 1 }, 0, readerOf(new Uint8Array(8 * MiB)))).rejects.toMatchObject({
      reason: 'invalid-option',
      field: 'plan',
    });
    await expect(renderVhdxPart(plan, 0, async () => new Uint8Array(10))).rejects.toMatchObject({ reason: 'source-truncated' });
  });
});
