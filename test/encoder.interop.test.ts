// raw -> VHDX through VhdxEncoderStream, checked by qemu-img, 7-Zip and libvhdi.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { VhdxEncoderStream, scanAllocation } from '../src/node/index.js';
import { collect, chunkedStream, makeRaw, type Contents } from './helpers/images.js';
import { describeWith, pyvhdiRead, qemuInfo, run, sevenZipSha256, sha256, suiteDir } from './helpers/tools.js';
import { storedBlocks } from './helpers/vhdx-inspect.js';

const MiB = 1024 * 1024;
const dir = suiteDir('vhdx-encoder-interop-');

interface Case {
  type: 'fixed' | 'dynamic';
  blockSize: number;
  lss: 512 | 4096;
  pss: 512 | 4096;
  size: number;
  contents: Contents;
  scanned?: boolean;
}

// Sizes that are not a multiple of the block size are still an even number of
// sectors: 7-Zip (26.02) refuses any virtual size with bit log2(sector) set, a
// quirk of its own check. Odd sector counts are covered by 'odd sector count'.
const cases: Case[] = [];
const sectorPairs: [512 | 4096, 512 | 4096][] = [
  [512, 512],
  [512, 4096],
  [4096, 4096],
];
for (const type of ['fixed', 'dynamic'] as const) {
  for (const blockSize of [1, 2, 32, 256].map((m) => m * MiB)) {
    for (const [lss, pss] of sectorPairs) {
      const blocks = blockSize >= 32 * MiB ? 1 : 3;
      cases.push({ type, blockSize, lss, pss, size: blocks * blockSize + 6 * lss, contents: 'mixed' });
      if (blockSize < 256 * MiB) cases.push({ type, blockSize, lss, pss, size: blocks * blockSize, contents: 'mixed' });
    }
  }
}
for (const contents of ['zero', 'data'] as const) {
  for (const type of ['fixed', 'dynamic'] as const) {
    for (const blockSize of [1 * MiB, 32 * MiB]) {
      for (const [lss, pss] of [sectorPairs[0]!, sectorPairs[2]!]) {
        cases.push({ type, blockSize, lss, pss, size: 2 * blockSize + 2 * lss, contents });
      }
    }
  }
}
for (const [lss, pss] of sectorPairs) {
  // odd sector count (7-Zip cannot open these, qemu-img and libvhdi can)
  cases.push({ type: 'dynamic', blockSize: MiB, lss, pss, size: 2 * MiB + 5 * lss, contents: 'mixed' });
  cases.push({ type: 'fixed', blockSize: 2 * MiB, lss, pss, size: 3 * MiB + 3 * lss, contents: 'mixed' });
}
for (const contents of ['zero', 'mixed', 'data'] as const) {
  for (const [lss, pss] of sectorPairs) {
    cases.push({ type: 'dynamic', blockSize: MiB, lss, pss, size: 9 * MiB + 2 * lss, contents, scanned: true });
  }
}

const name = (c: Case) =>
  `${c.type}${c.scanned ? '+map' : ''} block ${c.blockSize / MiB} MiB, sectors ${c.lss}/${c.pss}, ${c.size} bytes, ${c.contents}`;

describeWith(['qemu-img', '7zz', 'pyvhdi'], 'VhdxEncoderStream output read by independent implementations', () => {
  it.each(cases.map((c) => [name(c), c] as const))('%s', async (_, c) => {
    const raw = makeRaw(c.size, c.contents, c.size % 7);
    const rawPath = join(dir.path, 'in.raw');
    const outPath = join(dir.path, 'out.vhdx');
    writeFileSync(rawPath, raw);
    const allocationMap = c.scanned ? await scanAllocation(raw, { blockSize: c.blockSize }) : undefined;
    const enc = new VhdxEncoderStream({
      virtualSize: c.size,
      type: c.type,
      blockSize: c.blockSize,
      logicalSectorSize: c.lss,
      physicalSectorSize: c.pss,
      ...(allocationMap ? { allocationMap } : {}),
    });
    const vhdx = await collect(chunkedStream(raw, [1 * MiB, 12345, 3 * MiB + 1]).pipeThrough(enc));
    writeFileSync(outPath, vhdx);
    expect(vhdx.length).toBe(enc.outputSize);

    const blockCount = Math.ceil(c.size / c.blockSize);
    const stored = storedBlocks(vhdx, c.blockSize, c.lss, blockCount);
    if (c.type === 'fixed' || !c.scanned) {
      expect(stored.size).toBe(blockCount);
      expect(vhdx.length).toBe(enc.layout.payloadOffset + blockCount * c.blockSize);
    } else {
      // exactly the blocks with data are stored
      for (let b = 0; b < blockCount; b++) {
        const slice = raw.subarray(b * c.blockSize, Math.min(c.size, (b + 1) * c.blockSize));
        expect(stored.has(b)).toBe(slice.some((x) => x !== 0));
      }
    }

    const want = sha256(raw);
    const oddSectors = (c.size / c.lss) % 2 === 1;
    const seven = oddSectors ? undefined : sevenZipSha256(outPath);
    if (seven) {
      expect(seven.status, seven.stderr).toBe(0);
      expect(seven.length).toBe(c.size);
      expect(seven.sha256).toBe(want);
    }

    const py = pyvhdiRead(outPath);
    expect(py.mediaSize).toBe(c.size);
    expect(py.bytesPerSector).toBe(c.lss);
    expect(py.sha256).toBe(want);

    if (c.lss === 512) {
      // qemu-img 7.2 cannot open 4096-byte logical sectors
      const check = run('qemu-img', ['check', '-f', 'vhdx', outPath]);
      expect(check.status, check.stdout + check.stderr).toBe(0);
      const cmp = run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', outPath, rawPath]);
      expect(cmp.status, cmp.stdout + cmp.stderr).toBe(0);
      const info = qemuInfo(outPath);
      expect(info.format).toBe('vhdx');
      expect(info['virtual-size']).toBe(c.size);
      expect(info['cluster-size']).toBe(c.blockSize);
    }
  });
});
