// `npm run demo`: builds a small partitioned sample disk, converts it
// raw -> VHDX (dynamic) -> raw through the public API and checks the round trip.
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VhdxEncoderStream, VhdxDecoderStream, scanAllocation, openVhdx, crc32c } from '../dist/node/index.js';

const MiB = 1024 * 1024;
const size = 64 * MiB;

/** An MBR-partitioned disk: two partitions with some files' worth of data and zero gaps. */
function sampleDisk() {
  const disk = new Uint8Array(size);
  const dv = new DataView(disk.buffer);
  const part = (slot, type, startLba, sectors) => {
    const e = 446 + slot * 16;
    disk[e + 4] = type;
    dv.setUint32(e + 8, startLba, true);
    dv.setUint32(e + 12, sectors, true);
  };
  part(0, 0x83, 2048, 40960); // 20 MiB Linux partition at 1 MiB
  part(1, 0x07, 45056, 65536); // 32 MiB NTFS-type partition at 22 MiB
  disk[510] = 0x55;
  disk[511] = 0xaa;
  const text = new TextEncoder().encode('vhdx-stream sample file: lorem ipsum dolor sit amet, consectetur adipiscing elit.\n');
  let seed = 7;
  const put = (offset, length, kind) => {
    for (let at = offset; at < offset + length; at++) {
      if (kind === 'text') disk[at] = text[(at - offset) % text.length];
      else {
        seed = (seed * 1103515245 + 12345) >>> 0;
        disk[at] = seed >>> 24;
      }
    }
  };
  put(1 * MiB, 1 * MiB, 'text'); // "files" in partition 1
  put(5 * MiB, 3 * MiB, 'random');
  put(23 * MiB, 2 * MiB, 'text'); // and in partition 2
  put(40 * MiB, 4 * MiB, 'random');
  return disk;
}

function stream(bytes) {
  return new Blob([bytes]).stream();
}

async function collect(s) {
  const parts = [];
  for await (const c of s) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

const raw = sampleDisk();
console.log(`sample disk: ${size / MiB} MiB, MBR with 2 partitions, CRC-32C ${crc32c(raw).toString(16)}`);

const t0 = performance.now();
const allocationMap = await scanAllocation(raw, { blockSize: 2 * MiB });
const encoder = new VhdxEncoderStream({ allocationMap });
const vhdx = await collect(stream(raw).pipeThrough(encoder));
const t1 = performance.now();
const back = await collect(stream(vhdx).pipeThrough(new VhdxDecoderStream()));
const t2 = performance.now();

const image = await openVhdx(vhdx);
const { info } = image;
const same = back.length === raw.length && Buffer.compare(back, raw) === 0;
console.log(
  `raw -> VHDX: ${vhdx.length / MiB} MiB file (dynamic, ${info.blockSize / MiB} MiB blocks), ${(size / MiB / ((t1 - t0) / 1000)).toFixed(0)} MiB/s`,
);
console.log(
  `BAT: ${info.allocatedBlocks} of ${info.blockCount} blocks stored, ${info.blockCount - info.allocatedBlocks} all-zero blocks left out`,
);
console.log(`VHDX -> raw: ${back.length / MiB} MiB, ${(size / MiB / ((t2 - t1) / 1000)).toFixed(0)} MiB/s`);
console.log(`round trip byte-identical: ${same ? 'yes' : 'NO'}`);

if (spawnSync('qemu-img', ['--version']).status === 0) {
  const dir = mkdtempSync(join(tmpdir(), 'vhdx-demo-'));
  const file = join(dir, 'sample.vhdx');
  writeFileSync(file, vhdx);
  console.log('\nqemu-img info of the result:');
  console.log(spawnSync('qemu-img', ['info', file], { encoding: 'utf8' }).stdout.trim());
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = same ? 0 : 1;
