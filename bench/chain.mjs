// `npm run bench chain`: differencing chains (issue #14). A 3-level chain
// base <- c1 <- c2 of a mixed disk, built with this project's API; then, each
// beside a peer, alternating, medians and the ratio against the issue's goal:
// - flattening c2 to a raw file (`vhdx convert c2.avhdx out.raw`, the CLI over
//   vhdxFileToRawAt, as convertVhdxFileToRaw) beside `7zz e -so c2.avhdx > file`,
// - the same beside converting the equivalent flat VHDX to raw,
// - making a child of c1's raw against base.vhdx (`vhdx convert c1.raw c.avhdx --parent base.vhdx`,
//   the CLI over convertRawFileToChild) beside a plain raw -> VHDX conversion of that raw.
// Every output is a file in the same folder (tmpfs when it has room).
// BENCH_CHAIN_GIB sets the disk size (default 2; fractions allowed for a quick try).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { convertRawFileToChild, convertRawFileToVhdx, openVhdx } from '../dist/node/index.js';
import { benchDir, fillMixed, fillXorshift, hasTime, median, runCommand } from './e2e.mjs';

const MiB = 1024 * 1024;
const SECTOR = 512;
/** Of every 64 blocks, level L rewrites block 2L-1 whole and zeroes block 2L+15 (each had data). */
const CYCLE = 64;
/**
 * In the blocks level L touches here and there, it changes one 4 KiB run (8 sectors, as a file system
 * writes) in SPARSE_STRIDE.
 */
const RUN_SECTORS = 8;
const SPARSE_STRIDE = 20;

/**
 * Applies level `level`'s changes to the MiB at `mib` (in `buf`): a whole block rewritten (FULLY_PRESENT in
 * the child), a block zeroed (ZERO), and in some blocks one 4 KiB run in SPARSE_STRIDE stamped (PARTIALLY_PRESENT).
 * Level 1 stamps odd blocks and level 2 every third block, so some blocks take sectors from all three levels.
 */
function applyLevel(buf, mib, level, blockSize) {
  const block = Math.floor((mib * MiB) / blockSize);
  if (block % CYCLE === 2 * level - 1) return fillXorshift(buf, mib * 7919 + level);
  if (block % CYCLE === 2 * level + 15) return void buf.fill(0);
  const touched = level === 1 ? block % 2 === 1 : block % 3 === 0;
  if (!touched) return;
  const firstSector = (mib * MiB) / SECTOR;
  const stamp = Buffer.alloc(SECTOR);
  for (let s = 0; s < MiB / SECTOR; s++) {
    if (Math.floor((firstSector + s) / RUN_SECTORS) % SPARSE_STRIDE !== (level - 1) * (SPARSE_STRIDE / 2)) continue;
    stamp.fill(`level ${level} sector ${firstSector + s} `);
    stamp.copy(buf, s * SECTOR);
  }
}

/** Sectors of `a` and `b` that differ. */
function changedSectors(a, b) {
  let n = 0;
  for (let at = 0; at < a.length; at += SECTOR) if (a.compare(b, at, at + SECTOR, at, at + SECTOR) !== 0) n++;
  return n;
}

/**
 * Writes the disk as it is at `level` (0: the base; each level applies its changes over the last), densely,
 * as a downloaded or dd-copied image is. Returns its sha256 and the share of sectors that differ from the level below.
 */
export function writeLevelRaw(path, size, level, blockSize) {
  const fd = openSync(path, 'w');
  const below = Buffer.alloc(MiB);
  const buf = Buffer.alloc(MiB);
  const hash = createHash('sha256');
  let changed = 0;
  for (let mib = 0; mib * MiB < size; mib++) {
    fillMixed(buf, mib);
    for (let l = 1; l <= level; l++) {
      if (l === level) buf.copy(below);
      applyLevel(buf, mib, l, blockSize);
    }
    if (level > 0) changed += changedSectors(below, buf);
    writeSync(fd, buf, 0, MiB, mib * MiB);
    hash.update(buf);
  }
  closeSync(fd);
  return { sha256: hash.digest('hex'), changedShare: changed / (size / SECTOR) };
}

function sha256OfFile(path) {
  const r = spawnSync('sha256sum', [path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sha256sum ${path} failed: ${r.stderr}`);
  return r.stdout.split(' ')[0];
}

/** Fails the bench when `path` does not hold the disk whose sha256 is `expected`: a wrong fast result is never reported. */
function verify(path, expected, what) {
  const got = sha256OfFile(path);
  if (got !== expected) throw new Error(`${what}: ${path} differs from the expected disk (sha256 ${got}, expected ${expected})`);
  console.log(`  checked: ${what} equals the expected disk (sha256)`);
}

/**
 * Runs `ours` and `peer` alternately, `runs` times each, deleting their output (untimed) before each run;
 * prints both medians, the median of the per-pair ratios, and whether it is within `goal`.
 */
function goalRow(title, ours, peer, goal, runs) {
  const a = [];
  const b = [];
  const ratios = [];
  for (let i = 0; i < runs; i++) {
    rmSync(ours.output, { force: true });
    const x = runCommand(ours.cmd);
    rmSync(peer.output, { force: true });
    const y = runCommand(peer.cmd);
    a.push(x);
    b.push(y);
    ratios.push(x.wall / y.wall);
  }
  const fmt = (xs) =>
    `${median(xs.map((x) => x.wall)).toFixed(3)} s, peak RSS ${hasTime ? `${median(xs.map((x) => x.rssMiB)).toFixed(0)} MiB` : 'n/a'}`;
  const ratio = median(ratios);
  console.log(`\n${title}`);
  console.log(`  vhdx-stream   ${fmt(a)}`);
  console.log(`  ${peer.label.padEnd(13)} ${fmt(b)}`);
  console.log(
    `  ratio vhdx-stream / ${peer.label}: median ${ratio.toFixed(2)} (min ${Math.min(...ratios).toFixed(2)}, ` +
      `max ${Math.max(...ratios).toFixed(2)}); goal at most ${goal}x: ${ratio <= goal ? 'goal met' : 'goal NOT met'}`,
  );
  return ratio;
}

const counts = (d) => `${d.fullyPresent} fully present, ${d.partiallyPresent} partially present, ${d.zero} zero blocks`;

export async function chainBench({ runs = 7, sizeGiB = Number(process.env.BENCH_CHAIN_GIB ?? 2) } = {}) {
  const size = Math.round(sizeGiB * 1024) * MiB;
  // at most: one raw, base.vhdx, flat.vhdx, a sparse and a dense flattened disk, and the children
  const found = process.env.BENCH_DIR ?? benchDir(Math.ceil(sizeGiB * 5), 'vhdx-stream-chain-bench');
  const dir = found === '.bench' ? join('.bench', 'chain') : found;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const at = (name) => join(dir, name);
  const cli = `node ${join(process.cwd(), 'bin/vhdx.js')}`;
  const has7z = spawnSync('7zz', ['i']).status === 0;
  try {
    // the chain: base.raw -> base.vhdx, then each level's raw -> a child of the level below
    writeLevelRaw(at('base.raw'), size, 0, 0);
    await convertRawFileToVhdx(at('base.raw'), at('base.vhdx'));
    rmSync(at('base.raw'));
    const base = await openVhdx(at('base.vhdx'));
    const { blockSize } = base.info;
    await base.close();
    const c1 = writeLevelRaw(at('c1.raw'), size, 1, blockSize);
    const c1Summary = await convertRawFileToChild(at('c1.raw'), at('c1.avhdx'), at('base.vhdx'));
    console.log(
      `\nChain in ${dir}: ${(size / 1024 / MiB).toFixed(2)} GiB mixed disk, ${blockSize / MiB} MiB blocks, base <- c1 <- c2, ` +
        `${runs} runs each, alternating; load average ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')}${hasTime ? '' : ' (/usr/bin/time missing: no RSS)'}`,
    );
    console.log(`  c1: ${(c1.changedShare * 100).toFixed(1)}% of sectors changed from base; ${counts(c1Summary.differencing)}`);

    const childRatio = goalRow(
      `Child of a raw against its parent (${(c1.changedShare * 100).toFixed(1)}% of sectors changed): ` +
        'vhdx convert c1.raw child.avhdx --parent base.vhdx, beside vhdx convert c1.raw plain.vhdx',
      { cmd: `${cli} convert ${at('c1.raw')} ${at('child.avhdx')} --parent ${at('base.vhdx')}`, output: at('child.avhdx') },
      { cmd: `${cli} convert ${at('c1.raw')} ${at('plain.vhdx')}`, output: at('plain.vhdx'), label: 'raw -> VHDX' },
      1.5,
      runs,
    );
    const sizes = (f) => `${statSync(at(f)).size} bytes (${statSync(at(f)).blocks * 512} allocated)`;
    console.log(`  file size: child ${sizes('child.avhdx')}, plain VHDX ${sizes('plain.vhdx')}`);
    for (const f of ['c1.raw', 'child.avhdx', 'plain.vhdx']) rmSync(at(f));

    const c2 = writeLevelRaw(at('c2.raw'), size, 2, blockSize);
    const c2Summary = await convertRawFileToChild(at('c2.raw'), at('c2.avhdx'), at('c1.avhdx'));
    await convertRawFileToVhdx(at('c2.raw'), at('flat.vhdx'));
    rmSync(at('c2.raw'));
    console.log(`  c2: ${(c2.changedShare * 100).toFixed(1)}% of sectors changed from c1; ${counts(c2Summary.differencing)}`);

    const flatten = { cmd: `${cli} convert ${at('c2.avhdx')} ${at('out.raw')}`, output: at('out.raw') };
    runCommand(flatten.cmd);
    verify(at('out.raw'), c2.sha256, 'vhdx convert c2.avhdx out.raw');
    const flat = { cmd: `${cli} convert ${at('flat.vhdx')} ${at('flat.raw')}`, output: at('flat.raw'), label: 'flat VHDX' };
    runCommand(flat.cmd);
    verify(at('flat.raw'), c2.sha256, 'vhdx convert flat.vhdx flat.raw');
    let sevenRatio;
    if (has7z) {
      const seven = { cmd: `cd ${dir} && 7zz e -so c2.avhdx > 7z.raw`, output: at('7z.raw'), label: '7zz e -so' };
      runCommand(seven.cmd);
      verify(at('7z.raw'), c2.sha256, '7zz e -so c2.avhdx');
      sevenRatio = goalRow(
        'Flatten the 3-level chain to a raw file: vhdx convert c2.avhdx out.raw, beside 7zz e -so c2.avhdx > 7z.raw',
        flatten,
        seven,
        0.5,
        runs,
      );
      rmSync(at('7z.raw'), { force: true });
    } else console.log('\n7zz not installed: the 7-Zip row is skipped');
    const flatRatio = goalRow(
      'Flatten the 3-level chain to a raw file, beside converting the equivalent flat VHDX: vhdx convert flat.vhdx flat.raw',
      flatten,
      flat,
      1.3,
      runs,
    );
    console.log(
      `\n  load average at the end: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    return { childRatio, sevenRatio, flatRatio };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
