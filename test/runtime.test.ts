// Loading in other runtimes' conditions: the plain (non-SIMD) build, the
// init() escape hatch, and the web-streams ponyfill when globals are missing.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crc32c, isAllZero } from '../src/index.js';
import { changedSectorRuns } from '../src/wasm/kernels.js';
import { pseudoRandomBytes } from './helpers/reference.js';

const DIST = new URL('../dist/', import.meta.url);

function runModule(code: string) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    cwd: new URL('..', import.meta.url).pathname,
  });
}

describe('the plain build', () => {
  it('computes what the SIMD build computes', async () => {
    const bytes = readFileSync(new URL('wasm/vhdx.wasm', DIST));
    expect(WebAssembly.validate(bytes)).toBe(true);
    const { instance } = await WebAssembly.instantiate(bytes, {});
    const e = instance.exports as unknown as {
      memory: WebAssembly.Memory;
      inPtr(): number;
      crc32c(p: number, n: number, s: number): number;
      isZero(p: number, n: number): number;
      outPtr(): number;
      sectorsDiffer(a: number, b: number, n: number, sector: number, out: number): number;
    };
    const data = pseudoRandomBytes(70000, 12);
    new Uint8Array(e.memory.buffer).set(data, e.inPtr());
    for (const n of [0, 1, 15, 16, 17, 4095, 65536, 70000]) expect(e.crc32c(e.inPtr(), n, 0) >>> 0).toBe(crc32c(data.subarray(0, n)));
    const zeros = new Uint8Array(70000);
    zeros[69999] = 1;
    new Uint8Array(e.memory.buffer).set(zeros, e.inPtr());
    for (const n of [0, 1, 64, 69999, 70000]) expect(e.isZero(e.inPtr(), n) === 1).toBe(isAllZero(zeros.subarray(0, n)));
    // sectors of 512 bytes: the 2nd differs in its last byte, the 4th in its first, the 5th (short) in its last
    const next = data.slice(0, 4 * 512 + 100);
    for (const at of [2 * 512 - 1, 3 * 512, 4 * 512 + 99]) next[at] = next[at]! ^ 1;
    new Uint8Array(e.memory.buffer).set(next, e.inPtr());
    new Uint8Array(e.memory.buffer).set(data.subarray(0, next.length), e.inPtr() + 8192);
    expect(e.sectorsDiffer(e.inPtr(), e.inPtr() + 8192, next.length, 512, e.outPtr())).toBe(3);
    expect([...new Uint8Array(e.memory.buffer, e.outPtr(), 5)]).toEqual([0, 1, 0, 1, 1]);
    expect(changedSectorRuns(next, data.subarray(0, next.length), 512)).toEqual([1, 2, 3, 5]);
  });
});

describe('loading', () => {
  it('init(bytes) loads a module the caller supplies', () => {
    const r = runModule(`
      import { readFileSync } from 'node:fs';
      import { init, crc32c } from './dist/index.js';
      await init(readFileSync('./dist/wasm/vhdx.wasm'));
      console.log(crc32c(new TextEncoder().encode('123456789')).toString(16));
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('e3069283');
  });

  it('uses the web-streams ponyfill only when the globals are missing, and still converts', () => {
    const r = runModule(`
      delete globalThis.TransformStream;
      delete globalThis.ReadableStream;
      delete globalThis.WritableStream;
      const { VhdxEncoderStream, VhdxDecoderStream } = await import('./dist/index.js');
      const { ReadableStream } = await import('web-streams-polyfill');
      const raw = new Uint8Array(3 << 20).map((_, i) => (i % 4099 === 0 ? i & 255 : 0));
      const src = (bytes) => new ReadableStream({ start(c) { c.enqueue(bytes); c.close(); } });
      const collect = async (s) => { const parts = []; const r = s.getReader(); for (;;) { const { value, done } = await r.read(); if (done) break; parts.push(value); } return Buffer.concat(parts); };
      const enc = new VhdxEncoderStream({ virtualSize: raw.length, blockSize: 1 << 20 });
      const vhdx = await collect(src(raw).pipeThrough(enc));
      const back = await collect(src(new Uint8Array(vhdx)).pipeThrough(new VhdxDecoderStream()));
      console.log(typeof globalThis.TransformStream, Buffer.compare(back, Buffer.from(raw)) === 0 ? 'same' : 'different');
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('undefined same');
  });
});

describe('workerd', () => {
  // Node made to refuse compiling from bytes and to import .wasm files as
  // modules (test/helpers/workerd-like.mjs), then the package imported by
  // name under the "workerd" condition, as a Worker bundle resolves it.
  const runWorkerdLike = (code: string, conditions = ['--conditions=workerd']) =>
    spawnSync(process.execPath, [...conditions, '--import', './test/helpers/workerd-like.mjs', '--input-type=module', '-e', code], {
      encoding: 'utf8',
      cwd: new URL('..', import.meta.url).pathname,
    });

  it('the harness really refuses compiling from bytes (the package without the workerd condition)', () => {
    const r = runWorkerdLike(
      `
      const { crc32c } = await import('vhdx-stream');
      try { crc32c(new Uint8Array(1)); console.log('compiled'); } catch (e) { console.log(e.code); }
    `,
      [],
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('UNSUPPORTED');
  });

  it('the workerd entry loads the imported modules and converts both ways', () => {
    const r = runWorkerdLike(`
      const { crc32c, VhdxEncoderStream, openVhdx } = await import('vhdx-stream');
      const data = new Uint8Array(70000).map((_, i) => (i * 31) & 255);
      const raw = new Uint8Array(2 << 20);
      raw.set(data, 12345);
      const parts = [];
      const enc = new VhdxEncoderStream({ virtualSize: raw.length, blockSize: 1 << 20 });
      const done = (async () => { for await (const c of enc.readable) parts.push(c); })();
      const w = enc.writable.getWriter(); await w.write(raw); await w.close(); await done;
      const image = await openVhdx(new Uint8Array(Buffer.concat(parts)));
      const back = await image.read(0, raw.length);
      console.log(crc32c(data).toString(16), Buffer.compare(Buffer.from(back), Buffer.from(raw)) === 0 ? 'same' : 'different');
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`${crc32c(new Uint8Array(70000).map((_, i) => (i * 31) & 255)).toString(16)} same`);
  });
});

describe('browsers that refuse synchronous compiles over 4 KiB', () => {
  it('fall back to the plain build, which stays under 4 KiB', () => {
    expect(readFileSync(new URL('wasm/vhdx.wasm', DIST)).length).toBeLessThan(4096);
    const r = runModule(`
      const Module = WebAssembly.Module;
      WebAssembly.Module = function (bytes) {
        if (bytes.byteLength > 4096) throw new RangeError('WebAssembly.Compile is disallowed on the main thread, if the buffer size is larger than 4KB.');
        return new Module(bytes);
      };
      const { crc32c } = await import('./dist/index.js');
      console.log(crc32c(new Uint8Array(70000).map((_, i) => (i * 31) & 255)).toString(16));
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(crc32c(new Uint8Array(70000).map((_, i) => (i * 31) & 255)).toString(16));
  });
});
