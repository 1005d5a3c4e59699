// VHDX -> raw for qemu-img-made images: the decoder stream, openVhdx().stream()
// and openVhdx().read() must all give exactly `qemu-img convert -O raw`.
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { VhdxDecoderStream, openVhdx } from '../src/node/index.js';
import { makeRaw } from './helpers/images.js';
import { hashStream } from './helpers/hash.js';
import { pseudoRandomBytes } from './helpers/reference.js';
import { describeWith, run, sha256, sha256File, suiteDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const dir = suiteDir('vhdx-decoder-interop-');

interface QemuCase {
  subformat: 'dynamic' | 'fixed';
  blockMiB: number;
  logMiB: number;
  zero: 'on' | 'off';
}
const cases: QemuCase[] = [];
for (const blockMiB of [1, 8, 32]) {
  for (const subformat of ['dynamic', 'fixed'] as const) {
    for (const logMiB of [1, 8]) for (const zero of ['on', 'off'] as const) cases.push({ subformat, blockMiB, logMiB, zero });
  }
}
cases.push({ subformat: 'dynamic', blockMiB: 256, logMiB: 1, zero: 'on' }, { subformat: 'fixed', blockMiB: 256, logMiB: 8, zero: 'off' });

function fileStream(path: string): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStream(path, { highWaterMark: 1 << 20 })) as unknown as ReadableStream<Uint8Array>;
}

describeWith(['qemu-img'], 'decoding qemu-img images', () => {
  it.each(cases.map((c) => [`${c.subformat} block ${c.blockMiB} MiB log ${c.logMiB} MiB block_state_zero=${c.zero}`, c] as const))(
    '%s',
    async (_, c) => {
      const block = c.blockMiB * MiB;
      const size = block + block / 2 + 7 * 512 + (c.blockMiB === 256 ? 0 : block); // not a block multiple
      const rawIn = join(dir.path, 'in.raw');
      const vhdx = join(dir.path, 'q.vhdx');
      const expected = join(dir.path, 'expected.raw');
      writeFileSync(rawIn, makeRaw(size, 'mixed', c.blockMiB));
      const opts = `subformat=${c.subformat},block_size=${block},log_size=${c.logMiB * MiB},block_state_zero=${c.zero}`;
      const mk = run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', opts, rawIn, vhdx]);
      expect(mk.status, mk.stderr).toBe(0);
      const back = run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', vhdx, expected]);
      expect(back.status, back.stderr).toBe(0);
      const want = sha256File(expected);

      const viaStream = await hashStream(fileStream(vhdx).pipeThrough(new VhdxDecoderStream()));
      expect(viaStream.length).toBe(size);
      expect(viaStream.sha256).toBe(want);

      const image = await openVhdx(vhdx);
      try {
        expect(image.info.virtualSize).toBe(size);
        expect(image.info.blockSize).toBe(block);
        expect(image.info.type).toBe(c.subformat === 'fixed' ? 'fixed' : 'dynamic');
        expect(image.info.log.length).toBe(c.logMiB * MiB);
        const viaImage = await hashStream(image.stream());
        expect(viaImage.sha256).toBe(want);
        const raw = readFileSync(expected);
        const rnd = pseudoRandomBytes(64, c.blockMiB + c.logMiB);
        for (let i = 0; i < 16; i++) {
          const offset = Math.floor(((rnd[i]! * 65536 + rnd[i + 16]! * 256 + rnd[i + 32]!) / 2 ** 24) * size);
          const length = Math.min(size - offset, 1 + rnd[i + 48]! * 4099);
          const got = await image.read(offset, length);
          expect(Buffer.compare(got, raw.subarray(offset, offset + length)), `read(${offset}, ${length})`).toBe(0);
        }
        const tail = await image.read(size - 1000, 1000);
        expect(sha256(tail)).toBe(sha256(raw.subarray(size - 1000)));
      } finally {
        await image.close();
      }
    },
  );
});
