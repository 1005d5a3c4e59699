// VhdxWriterStream (positional, sparse) and the Node file-to-file helper.
import { readFileSync, writeFileSync, existsSync, statSync, symlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VhdxEncoderStream, VhdxWriterStream, VhdxError, openVhdx } from '../src/node/index.js';
import * as format from '../src/format/index.js';
import { convertRawFileToVhdx, convertVhdxFileToRaw } from '../src/node/index.js';
import { blockPatternRaw, chunkedStream, makeRaw } from './helpers/images.js';
import { describeWith, pyvhdiRead, run, sevenZipSha256, sha256, tempDir } from './helpers/tools.js';
import { storedBlocks } from './helpers/vhdx-inspect.js';

const MiB = 1024 * 1024;
const dir = tempDir();
afterAll(() => dir.cleanup());

/** An in-memory positional target that records every write (and resizes, with `truncate`: holes then read as zeros). */
function memoryTarget() {
  let file = new Uint8Array(0);
  const writes: { position: number; length: number; zero: boolean }[] = [];
  return {
    writes,
    resize(size: number) {
      const resized = new Uint8Array(size);
      resized.set(file.subarray(0, size));
      file = resized;
    },
    get bytes() {
      return file;
    },
    write(data: Uint8Array, position: number) {
      writes.push({ position, length: data.length, zero: data.every((b) => b === 0) });
      if (position + data.length > file.length) {
        const grown = new Uint8Array(position + data.length);
        grown.set(file);
        file = grown;
      }
      file.set(data, position);
    },
    closed: false,
    close() {
      this.closed = true;
    },
  };
}

describe('VhdxWriterStream', () => {
  it('never writes an all-zero block and writes the file identifier last', async () => {
    const size = 10 * MiB;
    const raw = blockPatternRaw(size, MiB, (b) => b === 2 || b === 7);
    const target = memoryTarget();
    const sink = new VhdxWriterStream(target, { blockSize: MiB, virtualSize: size });
    await chunkedStream(raw, [123457]).pipeTo(sink);
    const summary = await sink.result;
    expect(summary.blocksWritten).toBe(2);
    expect(target.closed).toBe(true);
    const last = target.writes.at(-1)!;
    expect(last.position).toBe(0);
    const payloadWrites = target.writes.filter((w) => w.position >= summary.fileSize - 2 * MiB - 1 && w.length > 4096);
    expect(payloadWrites.every((w) => !w.zero)).toBe(true);
    const stored = storedBlocks(target.bytes, MiB, 512, 10);
    expect([...stored.keys()].sort()).toEqual([2, 7]);
    for (const [b, off] of stored)
      expect(Buffer.compare(target.bytes.subarray(off, off + MiB), raw.subarray(b * MiB, (b + 1) * MiB))).toBe(0);
    expect(target.bytes.length).toBe(summary.fileSize);
  });

  it('on a target that truncates (holes read as zeros), leaves zero 64 KiB grains of stored blocks unwritten, however chunked', async () => {
    const grain = 64 * 1024;
    const size = 4 * MiB;
    const raw = new Uint8Array(size);
    // block 0: grains 0-2 and 9 hold data; block 1: none; blocks 2-3: every third grain, and a lone byte
    const dataGrains = [0, 1, 2, 9, ...Array.from({ length: 32 }, (_, i) => 32 + i * 3).filter((g) => g < 64)];
    for (const g of dataGrains) raw.set(makeRaw(grain, 'data', g + 1), g * grain);
    raw[60 * grain + 5] = 1;
    dataGrains.push(60);
    const files: Uint8Array[] = [];
    for (const sizes of [[size], [123457], [grain - 512, 3 * grain]]) {
      const target = memoryTarget();
      const sink = new VhdxWriterStream(
        { ...target, write: (d: Uint8Array, p: number) => target.write(d, p), truncate: (n: number) => target.resize(n) },
        {
          blockSize: MiB,
        },
      );
      await chunkedStream(raw, sizes).pipeTo(sink);
      const summary = await sink.result;
      expect(summary.blocksWritten).toBe(3);
      const stored = storedBlocks(target.bytes, MiB, 512, 4);
      const payload = [...stored.values()].map((off) => [off, off + MiB] as const);
      const inPayload = target.writes.filter((w) => payload.some(([from, to]) => w.position >= from && w.position < to));
      // only data grains are written (and one sector extending the file over a zero tail, if any): all of
      // them for chunks that are whole grains, a little less where a chunk ends inside one (its zero part is a hole)
      const written = inPayload.filter((w) => !(w.zero && w.length === 512)).reduce((n, w) => n + w.length, 0);
      if (sizes[0] === size) expect(written).toBe(dataGrains.length * grain);
      else expect(written).toBeGreaterThan((dataGrains.length - 1) * grain);
      expect(written).toBeLessThanOrEqual(dataGrains.length * grain);
      expect(inPayload.filter((w) => w.zero && w.length > 512)).toEqual([]);
      const image = await openVhdx(target.bytes);
      expect(Buffer.compare(await image.read(0, size), raw)).toBe(0);
      await image.close();
      files.push(target.bytes);
    }
    // the same file whatever the chunking (the GUIDs aside: compare the payload and BAT through the stored map)
    for (const f of files.slice(1)) expect([...storedBlocks(f, MiB, 512, 4)]).toEqual([...storedBlocks(files[0]!, MiB, 512, 4)]);
  });

  it('on a target that cannot truncate and holds older bytes, a block whose start was zeros reads zeros there, however chunked', async () => {
    const size = 6 * MiB;
    const raw = new Uint8Array(size);
    raw.fill(1, 512 * 1024, MiB); // block 0: zeros, then data from the middle
    raw.fill(2, 3 * MiB + 36 * 1024, 3 * MiB + 40 * 1024); // block 3: data after 36 KiB of zeros
    raw[6 * MiB - 1] = 3; // block 5: only its last byte
    for (const sizes of [[512 * 1024], [777 * 1024], [size], [4096, 65_536]]) {
      const old = new Uint8Array(48 * MiB).fill(0xaa); // a reused device or buffer (the BAT's room for 2 TiB at 1 MiB blocks is 17 MiB)
      const sink = new VhdxWriterStream({ write: (d: Uint8Array, p: number) => void old.set(d, p) }, { blockSize: MiB });
      await chunkedStream(raw, sizes).pipeTo(sink);
      expect((await sink.result).blocksWritten).toBe(3);
      const image = await openVhdx(old.subarray(0, (await sink.result).fileSize));
      const back = await image.read(0, size);
      const at = back.findIndex((b, i) => b !== raw[i]);
      expect(at, `chunks of ${sizes.join(', ')}: first difference at ${at}`).toBe(-1);
      await image.close();
    }
  });

  it('with virtualSize omitted, takes the size from the input rounded up to the sector', async () => {
    const raw = makeRaw(3 * MiB + 100, 'mixed');
    const target = memoryTarget();
    const sink = new VhdxWriterStream(target, { blockSize: MiB });
    await chunkedStream(raw).pipeTo(sink);
    const summary = await sink.result;
    expect(summary.virtualSize).toBe(3 * MiB + 512);
  });

  it('errors with TRUNCATED when a given virtualSize is not reached, and leaves no identifier', async () => {
    const raw = makeRaw(3 * MiB, 'data');
    const target = memoryTarget();
    const sink = new VhdxWriterStream(target, { virtualSize: 4 * MiB, blockSize: MiB });
    await expect(chunkedStream(raw).pipeTo(sink)).rejects.toMatchObject({ code: 'TRUNCATED' });
    await expect(sink.result).rejects.toBeInstanceOf(VhdxError);
    expect(format.hasVhdxSignature(target.bytes)).toBe(false);
  });

  it('refuses a batReserve that is not a positive number of bytes up to 64 TiB, before any byte flows', async () => {
    for (const batReserve of [0, -1, 1.5, 2 ** 46 + 1, '2T' as unknown as number]) {
      expect(() => new VhdxWriterStream(memoryTarget(), { batReserve })).toThrow(
        expect.objectContaining({ reason: 'invalid-option', field: 'batReserve' }),
      );
    }
    const raw = join(dir.path, 'reserve.raw');
    writeFileSync(raw, new Uint8Array(MiB));
    await expect(convertRawFileToVhdx(raw, join(dir.path, 'reserve.vhdx'), { batReserve: 0 })).rejects.toMatchObject({
      reason: 'invalid-option',
    });
    expect(existsSync(join(dir.path, 'reserve.vhdx'))).toBe(false);
  });

  it('errors when an empty input would make an empty disk', async () => {
    const sink = new VhdxWriterStream(memoryTarget());
    await expect(chunkedStream(new Uint8Array(0)).pipeTo(sink)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('wipes an older VHDX in the target before writing, so an interrupted run leaves nothing valid', async () => {
    const path = join(dir.path, 'overwrite.vhdx');
    const raw = makeRaw(4 * MiB, 'mixed');
    await chunkedStream(raw).pipeTo(new VhdxWriterStream(path, { blockSize: MiB }));
    expect(format.hasVhdxSignature(readFileSync(path))).toBe(true);
    let sent = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 2) c.enqueue(raw.subarray(0, MiB));
        else c.error(new Error('source died'));
      },
    });
    const fh = await open(path, 'r+');
    await expect(failing.pipeTo(new VhdxWriterStream(fh, { blockSize: MiB }))).rejects.toThrow('source died');
    await fh.close();
    expect(format.hasVhdxSignature(readFileSync(path))).toBe(false);
  });

  it('reports a failing target write as an IO error', async () => {
    const sink = new VhdxWriterStream(
      {
        write() {
          throw new Error('ENOSPC: no space left on device');
        },
      },
      { blockSize: MiB },
    );
    await expect(chunkedStream(makeRaw(2 * MiB, 'data')).pipeTo(sink)).rejects.toMatchObject({ code: 'IO' });
  });

  it('writes the same file through a FileSystemWritableFileStream-like target and an access handle', async () => {
    const raw = makeRaw(2 * MiB, 'mixed');
    const options = {
      blockSize: MiB,
      guids: {
        fileWrite: '11111111-1111-4111-8111-111111111111',
        dataWrite: '22222222-2222-4222-8222-222222222222',
        virtualDisk: '33333333-3333-4333-8333-333333333333',
      },
    };
    const viaWritable = memoryTarget();
    const truncated: number[] = [];
    const writable = {
      seek() {},
      async write(cmd: { type: string; position: number; data: Uint8Array }) {
        expect(cmd.type).toBe('write');
        viaWritable.write(cmd.data, cmd.position);
      },
      async truncate(n: number) {
        truncated.push(n);
      },
      async close() {},
    };
    await chunkedStream(raw).pipeTo(new VhdxWriterStream(writable as unknown as FileSystemWritableFileStream, options));
    expect(truncated[0]).toBe(0); // wiped first
    expect(truncated.at(-1)).toBe(viaWritable.bytes.length); // and cut to size at the end
    expect(format.hasVhdxSignature(viaWritable.bytes)).toBe(true);

    const viaHandle = memoryTarget();
    let closed = false;
    const handle = {
      getSize: () => viaHandle.bytes.length,
      write: (d: Uint8Array, o: { at: number }) => {
        viaHandle.write(d, o.at);
        return d.length;
      },
      truncate() {},
      flush() {},
      close() {
        closed = true;
      },
    };
    await chunkedStream(raw, [65536]).pipeTo(new VhdxWriterStream(handle, options));
    expect(closed).toBe(true);
    expect(Buffer.compare(viaHandle.bytes, viaWritable.bytes)).toBe(0);
  });
});

describeWith(['qemu-img', '7zz', 'pyvhdi'], 'positional writer and Node file path, read by independent implementations', () => {
  const cases = [
    { lss: 512 as const, size: 20 * MiB + 1024, blockSize: 2 * MiB },
    { lss: 4096 as const, size: 12 * MiB, blockSize: MiB },
    { lss: 512 as const, size: 40 * MiB, blockSize: 32 * MiB },
  ];
  it.each(cases)('VhdxWriterStream to a path: sectors $lss, $size bytes, block $blockSize', async (c) => {
    const raw = makeRaw(c.size, 'mixed', 9);
    const path = join(dir.path, `w-${c.lss}-${c.size}.vhdx`);
    const rawPath = `${path}.raw`;
    writeFileSync(rawPath, raw);
    const sink = new VhdxWriterStream(path, { blockSize: c.blockSize, logicalSectorSize: c.lss, virtualSize: c.size });
    await chunkedStream(raw, [MiB + 7]).pipeTo(sink);
    const summary = await sink.result;
    expect(statSync(path).size).toBe(summary.fileSize);
    const file = readFileSync(path);
    const stored = storedBlocks(file, c.blockSize, c.lss, summary.blockCount);
    for (let b = 0; b < summary.blockCount; b++) {
      expect(stored.has(b)).toBe(raw.subarray(b * c.blockSize, (b + 1) * c.blockSize).some((x) => x !== 0));
    }
    const seven = sevenZipSha256(path);
    expect(seven.status, seven.stderr).toBe(0);
    expect(seven.sha256).toBe(sha256(raw));
    expect(pyvhdiRead(path).sha256).toBe(sha256(raw));
    if (c.lss === 512) {
      expect(run('qemu-img', ['check', '-f', 'vhdx', path]).status).toBe(0);
      expect(run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', path, rawPath]).status).toBe(0);
    }
  });

  it('VhdxWriterStream with virtualSize omitted keeps room for the BAT before the payload, and readers agree', async () => {
    const raw = makeRaw(9 * MiB, 'mixed', 4);
    const path = join(dir.path, 'nosize.vhdx');
    writeFileSync(`${path}.raw`, raw);
    await chunkedStream(raw).pipeTo(new VhdxWriterStream(path, { blockSize: MiB }));
    expect(run('qemu-img', ['check', '-f', 'vhdx', path]).status).toBe(0);
    expect(run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', path, `${path}.raw`]).status).toBe(0);
    expect(sevenZipSha256(path).sha256).toBe(sha256(raw));
    expect(pyvhdiRead(path).sha256).toBe(sha256(raw));
  });

  it('convertRawFileToVhdx makes the same disk with pipelined I/O', async () => {
    const raw = makeRaw(50 * MiB + 512, 'mixed', 2);
    const rawPath = join(dir.path, 'node.raw');
    const out = join(dir.path, 'node.vhdx');
    writeFileSync(rawPath, raw);
    const progress: number[] = [];
    const summary = await convertRawFileToVhdx(rawPath, out, { blockSize: MiB, onProgress: (d) => progress.push(d) });
    expect(progress.at(-1)).toBe(raw.length);
    expect(summary.virtualSize).toBe(raw.length);
    expect(run('qemu-img', ['check', '-f', 'vhdx', out]).status).toBe(0);
    expect(run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', out, rawPath]).status).toBe(0);
    expect(pyvhdiRead(out).sha256).toBe(sha256(raw));
  });

  it("convertRawFileToVhdx writes a fixed disk: every block in order, the encoder's size, zero stretches as holes", async () => {
    const raw = makeRaw(12 * MiB + 4096, 'mixed', 6);
    raw.fill(0, 2 * MiB, 7 * MiB); // whole zero blocks, which a fixed disk still stores
    const rawPath = join(dir.path, 'fixed.raw');
    const out = join(dir.path, 'fixed.vhdx');
    writeFileSync(rawPath, raw);
    const summary = await convertRawFileToVhdx(rawPath, out, { blockSize: MiB, type: 'fixed' });
    const expectedSize = new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB, type: 'fixed' }).outputSize;
    expect(summary.fileSize).toBe(expectedSize);
    expect(statSync(out).size).toBe(expectedSize);
    expect(statSync(out).blocks * 512).toBeLessThan(expectedSize - 4 * MiB); // the zero MiBs were not written
    const bytes = readFileSync(out);
    const stored = storedBlocks(bytes, MiB, 512, 13);
    expect([...stored.keys()]).toEqual([...Array(13).keys()]);
    const offsets = [...stored.values()];
    expect(offsets.every((off, i) => i === 0 || off === offsets[i - 1]! + MiB)).toBe(true);
    const image = await openVhdx(out);
    expect(image.info.type).toBe('fixed');
    await image.close();
    expect(run('qemu-img', ['check', '-f', 'vhdx', out]).status).toBe(0);
    expect(run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', out, rawPath]).status).toBe(0);
    expect(sevenZipSha256(out).sha256).toBe(sha256(raw));
    expect(pyvhdiRead(out).sha256).toBe(sha256(raw));
  });

  it('convertRawFileToVhdx and convertVhdxFileToRaw refuse an output that is the input, and leave it intact', async () => {
    const rawPath = join(dir.path, 'self.raw');
    const raw = makeRaw(2 * MiB, 'mixed', 8);
    writeFileSync(rawPath, raw);
    await expect(convertRawFileToVhdx(rawPath, rawPath)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const link = join(dir.path, 'self-link.raw');
    symlinkSync(rawPath, link);
    await expect(convertRawFileToVhdx(link, rawPath)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(Buffer.compare(readFileSync(rawPath), raw)).toBe(0);
    const vhdxPath = join(dir.path, 'self.vhdx');
    await convertRawFileToVhdx(rawPath, vhdxPath);
    const before = readFileSync(vhdxPath);
    await expect(convertVhdxFileToRaw(vhdxPath, vhdxPath)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(Buffer.compare(readFileSync(vhdxPath), before)).toBe(0);
  });

  it('convertRawFileToVhdx removes its partial output on failure', async () => {
    const out = join(dir.path, 'fail.vhdx');
    await expect(convertRawFileToVhdx(join(dir.path, 'missing.raw'), out)).rejects.toMatchObject({ code: 'IO' });
    const rawPath = join(dir.path, 'big.raw');
    writeFileSync(rawPath, makeRaw(4 * MiB, 'data'));
    await expect(convertRawFileToVhdx(rawPath, out, { virtualSize: 2 * MiB })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(existsSync(out)).toBe(false);
  });
});
