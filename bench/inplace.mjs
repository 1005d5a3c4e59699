// `npm run bench inplace [--quick]`: in-place operations (issue 20).
// - Compact: a fragmented dynamic disk (every block written, then half of the
//   blocks, scattered, overwritten with zeros: they keep their space) made
//   smaller in place by `vhdx compact`, beside the copies users make today,
//   `qemu-img convert -O vhdx` and `vhdx convert`, with the same block size:
//   time, peak extra disk space (a copy needs a second file; compact never
//   grows the file), final size. Alternating runs, each on a fresh copy.
// - fs-trim: a 4 GiB ext4 disk (mkfs.ext4 on a raw file, files written with
//   debugfs `write`, half of them removed with debugfs `rm`), converted to a
//   VHDX with 1 MiB blocks, then `vhdx compact --fs-trim`: bytes reclaimed
//   beside the bytes deleted (goal: at least 90%).
// - Commit: a child holding 1 GiB over a 4 GiB parent committed in place
//   (`vhdx commit`) beside flattening the chain to a new file (`vhdx convert
//   child.avhdx flat.vhdx`), each run on fresh copies (goal: at most that).
// - Floor (a column of the compact and commit rows, same runs): the physical
//   floor of each as one Node process (bench/inplace-floor.mjs): for compact,
//   reading the file once plus writing the bytes its moves copy; for commit,
//   reading the child's file once plus writing its data; each flushed.
// - Grow: a 64 GiB disk holding 1 GiB of data to 128 GiB (`vhdx resize`).
// BENCH_INPLACE_GIB sets the compacted, trimmed and committed-into disks' size
// (default 4; --quick 0.25; the child holds a quarter of it, the ext4 disk's
// files half), BENCH_INPLACE_GROW_DATA the data in the disk grown (default 1G).
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { convertRawFileToVhdx, openVhdx } from '../dist/node/index.js';
import { ext4Disk, hasE2fsprogs } from './disks.mjs';
import { benchDir, fillXorshift, median, runCommand } from './e2e.mjs';

const MiB = 1024 * 1024;
const BLOCK = 2 * MiB;
const VHDX = new URL('../bin/vhdx.js', import.meta.url).pathname;
const FLOOR = new URL('./inplace-floor.mjs', import.meta.url).pathname;

/** A dynamic VHDX at `path` of `size` bytes of pseudo-random data (each MiB seeded by its index x `mul` + `add`), made through a raw file at `raw` (removed after). */
async function randomVhdx(raw, path, size, mul, add) {
  const fd = openSync(raw, 'w');
  const buf = Buffer.alloc(MiB);
  for (let mib = 0; mib * MiB < size; mib++) {
    fillXorshift(buf, mib * mul + add);
    writeSync(fd, buf, 0, MiB, mib * MiB);
  }
  closeSync(fd);
  await convertRawFileToVhdx(raw, path, { blockSize: BLOCK });
  rmSync(raw);
}

/** A fragmented dynamic disk of `size` bytes at `path`: every block stored, then every other block (scattered by a hash) zeroed in place. */
async function fragmented(dir, path, size) {
  await randomVhdx(join(dir, 'frag.raw'), path, size, 2654435761, 1);
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
  // the bytes compact's moves copy, as its dry run says
  const plan = JSON.parse(execFileSync(process.execPath, [VHDX, 'compact', frag, '--dry-run', '--json'], { encoding: 'utf8' }));
  const moved = plan.blocksMoved * BLOCK;
  const floorName = 'floor: read once + copy';
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
    [floorName]: { cmd: `node ${FLOOR} ${work} ${moved} ${out}`, file: out, times: [], extra: 0, size: 0 },
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
    if (name === floorName)
      console.log(`  ${name.padEnd(26)} ${median(row.times).toFixed(2)} s  (the file read, ${gb(moved)} written and flushed)`);
    else console.log(`  ${name.padEnd(26)} ${median(row.times).toFixed(2)} s  extra space ${gb(row.extra)}  final size ${gb(row.size)}`);
  }
  const ours = median(rows['vhdx compact (in place)'].times);
  const qemu = median(rows['qemu-img convert -O vhdx'].times);
  const floor = median(rows[floorName].times);
  const compacted = rows['vhdx compact (in place)'];
  const sizeOver = compacted.size - rows['qemu-img convert -O vhdx'].size;
  console.log(`  compact / qemu-img convert: ${(ours / qemu).toFixed(2)} (goal at most 0.5): ${verdict(ours <= qemu / 2)}`);
  console.log(
    `  floor / qemu-img convert: ${(floor / qemu).toFixed(2)}${floor > qemu / 2 ? ' (the 0.5 goal is below the floor)' : ''}; compact / floor: ${(ours / floor).toFixed(2)}`,
  );
  console.log(`  extra space while compacting: ${gb(compacted.extra)} (goal at most one block): ${verdict(compacted.extra <= BLOCK)}`);
  console.log(`  final size - qemu-img's copy: ${gb(sizeOver)} (goal within one block): ${verdict(sizeOver <= BLOCK)}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  if (hasE2fsprogs()) await fsTrimRow(dir, gib);
  else console.log('\nfs-trim: skipped (mkfs.ext4 and debugfs, from e2fsprogs, are not installed)');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  await commitRow(dir, size, runs);
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
  console.log(`  ${median(times).toFixed(3)} s (goal under 1 s): ${verdict(median(times) < 1)}`);
  rmSync(dir, { recursive: true, force: true });
}

function verdict(met) {
  return met ? 'goal met' : 'goal NOT met';
}

/** Rebuilds the file list ext4Disk writes (sizes 1-64 MiB, folders in turn) for `dataMiB` of files. */
function ext4Files(dataMiB) {
  const files = [];
  let written = 0;
  for (let i = 0; written < dataMiB; i++) {
    const mib = Math.min(dataMiB - written, 1 + (((i * 2654435761) >>> 0) % 64));
    files.push({ name: `${['home', 'usr', 'var'][i % 3]}/f${i}`, mib });
    written += mib;
  }
  return files;
}

/** `vhdx compact --fs-trim` on an ext4 disk with half of its files deleted: reclaimed bytes beside deleted bytes. */
async function fsTrimRow(dir, gib) {
  const raw = join(dir, 'ext4.raw');
  const dataMiB = Math.round(gib * 1024) / 2;
  ext4Disk(raw, gib, dataMiB);
  // every other file removed (debugfs rm frees its blocks; their bytes stay in the image)
  const removed = ext4Files(dataMiB).filter((_, i) => i % 2 === 0);
  writeFileSync(join(dir, 'rm.cmds'), `${removed.map((f) => `rm ${f.name}`).join('\n')}\n`);
  runCommand(`debugfs -w -f ${join(dir, 'rm.cmds')} ${raw} > /dev/null`);
  const deleted = removed.reduce((n, f) => n + f.mib * MiB, 0);
  const vhdx = join(dir, 'ext4.vhdx');
  runCommand(`node ${VHDX} convert -q ${raw} ${vhdx} --block-size 1M`);
  rmSync(raw);
  const before = statSync(vhdx).size;
  const json = (...args) => JSON.parse(execFileSync(process.execPath, [VHDX, 'compact', vhdx, '--json', ...args], { encoding: 'utf8' }));
  const plain = json('--dry-run');
  const t0 = performance.now();
  const reclaimed = json('-q', '--fs-trim').reclaimedBytes;
  const seconds = (performance.now() - t0) / 1000;
  const mb = (n) => `${(n / MiB).toFixed(0)} MiB`;
  console.log(
    `\nvhdx compact --fs-trim on a ${gib} GiB ext4 disk (${mb(dataMiB * MiB)} of files written, ${removed.length} files / ${mb(deleted)} deleted; VHDX with 1 MiB blocks, ${mb(before)})`,
  );
  console.log(`  without --fs-trim (dry run): ${mb(plain.reclaimedBytes)} reclaimable`);
  console.log(`  --fs-trim: ${mb(reclaimed)} reclaimed in ${seconds.toFixed(2)} s; file ${mb(before)} -> ${mb(statSync(vhdx).size)}`);
  const share = reclaimed / deleted;
  console.log(`  reclaimed / deleted: ${(share * 100).toFixed(1)}% (goal at least 90%): ${verdict(share >= 0.9)}`);
}

/** `vhdx commit` of a child holding a quarter of `size` into its parent, beside `vhdx convert child flat.vhdx`. */
async function commitRow(dir, size, runs) {
  const base = join(dir, 'base.vhdx');
  await randomVhdx(join(dir, 'base.raw'), base, size, 2246822519, 3);
  const child = join(dir, 'child.avhdx');
  runCommand(`node ${VHDX} create ${child} --parent ${base}`);
  // a quarter of the disk written in the child: 4 MiB of every 16 MiB
  const image = await openVhdx(child, { writable: true });
  const piece = Buffer.alloc(4 * MiB);
  let data = 0;
  for (let at = 0; at < size; at += 16 * MiB) {
    fillXorshift(piece, at / MiB + 7);
    await image.write(at, piece);
    data += piece.length;
  }
  await image.close();
  const keep = { base: join(dir, 'base.keep'), child: join(dir, 'child.keep') };
  copyFileSync(base, keep.base);
  copyFileSync(child, keep.child);
  const flat = join(dir, 'flat.vhdx');
  /** @type {{ commit: number[], flatten: number[], floor: number[] }} */
  const times = { commit: [], flatten: [], floor: [] };
  for (let i = 0; i < runs; i++) {
    // untimed: each run starts from the same chain
    copyFileSync(keep.base, base);
    copyFileSync(keep.child, child);
    times.commit.push(runCommand(`node ${VHDX} commit -q ${child}`).wall);
    copyFileSync(keep.base, base);
    copyFileSync(keep.child, child);
    rmSync(flat, { force: true });
    times.flatten.push(runCommand(`node ${VHDX} convert -q ${child} ${flat}`).wall);
    rmSync(flat, { force: true });
    times.floor.push(runCommand(`node ${FLOOR} ${child} ${data} ${flat}`).wall);
  }
  const commit = median(times.commit);
  const flatten = median(times.flatten);
  const floor = median(times.floor);
  const gb = (n) => `${(n / 1024 / MiB).toFixed(2)} GiB`;
  console.log(
    `\nCommit a child holding ${gb(data)} into its ${gb(size)} parent (${BLOCK / MiB} MiB blocks), in place, beside flattening the chain`,
  );
  console.log(`  vhdx commit (in place)              ${commit.toFixed(2)} s`);
  console.log(`  vhdx convert child.avhdx flat.vhdx  ${flatten.toFixed(2)} s`);
  console.log(`  floor: child read + data written     ${floor.toFixed(2)} s  (the child's file read, ${gb(data)} written and flushed)`);
  console.log(`  commit / flatten: ${(commit / flatten).toFixed(2)} (goal at most 1): ${verdict(commit <= flatten)}`);
  console.log(`  floor / flatten: ${(floor / flatten).toFixed(2)}; commit / floor: ${(commit / floor).toFixed(2)}`);
}
