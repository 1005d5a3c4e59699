// `npm run bench inplace [--quick]`: in-place operations (issue 20).
// - Compact: a fragmented dynamic disk (every block written, then half of the
//   blocks, scattered, overwritten with zeros: they keep their space) made
//   smaller in place by `vhdx compact`, beside the copies users make today,
//   `qemu-img convert -O vhdx` and `vhdx convert`, with the same block size:
//   time, peak extra disk space (a copy needs a second file; compact never
//   grows the file), final size. Alternating runs, each on a fresh copy.
// - Grow: a 64 GiB disk holding 1 GiB of data to 128 GiB (`vhdx resize`).
// BENCH_INPLACE_GIB sets the compacted disk's size (default 4; --quick 0.25),
// BENCH_INPLACE_GROW_DATA the data in the disk grown (default 1G).
import { closeSync, copyFileSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { convertRawFileToVhdx, openVhdx } from '../dist/node/index.js';
import { benchDir, fillXorshift, median, runCommand } from './e2e.mjs';

const MiB = 1024 * 1024;
const BLOCK = 2 * MiB;
const VHDX = new URL('../bin/vhdx.js', import.meta.url).pathname;

/** A fragmented dynamic disk of `size` bytes at `path`: every block stored, then every other block (scattered by a hash) zeroed in place. */
async function fragmented(dir, path, size) {
  const raw = join(dir, 'frag.raw');
  const fd = openSync(raw, 'w');
  const buf = Buffer.alloc(MiB);
  for (let mib = 0; mib * MiB < size; mib++) {
    fillXorshift(buf, mib * 2654435761 + 1);
    writeSync(fd, buf, 0, MiB, mib * MiB);
  }
  closeSync(fd);
  await convertRawFileToVhdx(raw, path, { blockSize: BLOCK });
  rmSync(raw);
  const image = await openVhdx(path, { writable: true });
  const zeros = new Uint8Array(BLOCK);
  for (let b = 0; b * BLOCK < size; b++) if (((b * 2654435761) >>> 7) % 2 === 0) await image.write(b * BLOCK, zeros);
  await image.close();
}

export async function inplaceBench({ quick = false, runs = quick ? 2 : 3 } = {}) {
  const gib = Number(process.env.BENCH_INPLACE_GIB ?? (quick ? 0.25 : 4));
  const size = Math.round(gib * 1024) * MiB;
  const dir = process.env.BENCH_DIR ?? benchDir(gib * 4, 'vhdx-stream-bench-inplace');
  mkdirSync(dir, { recursive: true });
  const frag = join(dir, 'frag.vhdx');
  await fragmented(dir, frag, size);
  const before = statSync(frag).size;
  const work = join(dir, 'work.vhdx');
  const out = join(dir, 'out.vhdx');
  /** @type {Record<string, { cmd: string; file: string; times: number[]; extra: number; size: number }>} */
  const rows = {
    'vhdx compact (in place)': { cmd: `node ${VHDX} compact -q ${work}`, file: work, times: [], extra: 0, size: 0 },
    'qemu-img convert -O vhdx': {
      cmd: `qemu-img convert -f vhdx -O vhdx -o block_size=${BLOCK} ${frag} ${out}`,
      file: out,
      times: [],
      extra: 0,
      size: 0,
    },
    'vhdx convert': { cmd: `node ${VHDX} convert -q ${frag} ${out} --block-size ${BLOCK / MiB}M`, file: out, times: [], extra: 0, size: 0 },
  };
  for (let i = 0; i < runs; i++) {
    for (const row of Object.values(rows)) {
      rmSync(out, { force: true });
      copyFileSync(frag, work); // untimed: each compaction starts from the fragmented disk
      const r = runCommand(row.cmd);
      row.times.push(r.wall);
      row.size = statSync(row.file).size;
      // a copy needs the whole new file beside the old one; compact never grows its file
      row.extra = row.file === work ? Math.max(0, row.size - before) : row.size;
    }
  }
  const gb = (n) => `${(n / 1024 / MiB).toFixed(2)} GiB`;
  console.log(`\nCompact a ${gb(size)} fragmented dynamic disk (half its ${BLOCK / MiB} MiB blocks zero, scattered; file ${gb(before)})`);
  for (const [name, row] of Object.entries(rows)) {
    console.log(`  ${name.padEnd(26)} ${median(row.times).toFixed(2)} s  extra space ${gb(row.extra)}  final size ${gb(row.size)}`);
  }
  const ours = median(rows['vhdx compact (in place)'].times);
  const qemu = median(rows['qemu-img convert -O vhdx'].times);
  console.log(
    `  compact / qemu-img convert: ${(ours / qemu).toFixed(2)} (goal at most 0.5); final size - qemu's: ${gb(rows['vhdx compact (in place)'].size - rows['qemu-img convert -O vhdx'].size)} (goal within one block)`,
  );
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  // grow a 64 GiB disk with 1 GiB of data to 128 GiB
  const big = join(dir, 'grow.vhdx');
  const data = process.env.BENCH_INPLACE_GROW_DATA ?? '1G';
  const times = [];
  for (let i = 0; i < runs; i++) {
    rmSync(big, { force: true });
    runCommand(`qemu-img create -q -f vhdx ${big} 64G && qemu-io -f vhdx -c 'write -P 7 0 ${data}' ${big} > /dev/null`);
    times.push(runCommand(`node ${VHDX} resize ${big} 128G`).wall);
  }
  console.log(`\nGrow a 64 GiB disk holding ${data} of data to 128 GiB (vhdx resize, process start included)`);
  console.log(`  ${median(times).toFixed(3)} s (goal under 1 s)`);
  rmSync(dir, { recursive: true, force: true });
}
