// Realistic bench inputs: disks shaped like the ones users convert. A real
// ext4 filesystem (mkfs.ext4, files written into it with debugfs) takes a
// few percent of its disk; the rest is holes in the raw file, as in a disk
// image copied with `cp --sparse` or made by a hypervisor.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fillMixed, fillXorshift, writeMixedFile } from './e2e.mjs';

const MiB = 1024 * 1024;
/** MiB indexes that fillMixed fills with data, not zeros. */
const NONZERO_KINDS = Array.from({ length: 64 }, (_, i) => i).filter((i) => (i * 2654435761) % 7 > 2);

function must(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
  return r.stdout;
}

/** True when mkfs.ext4 and debugfs are installed (Debian's e2fsprogs). */
export function hasE2fsprogs() {
  return ['mkfs.ext4', 'debugfs'].every((t) => spawnSync(t, ['-V']).error === undefined);
}

/**
 * An ext4 disk of `sizeGiB` holding `dataMiB` of files (mixed contents, 1-64 MiB
 * each, in a few folders), made once and kept: `path.done` marks it complete.
 */
export function ext4Disk(path, sizeGiB, dataMiB) {
  const done = `${path}.done`;
  if (existsSync(done) && existsSync(path) && statSync(path).size === sizeGiB * 1024 * MiB) return path;
  rmSync(path, { force: true });
  const fd = openSync(path, 'w');
  ftruncateSync(fd, sizeGiB * 1024 * MiB);
  closeSync(fd);
  must('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=1,lazy_journal_init=1', path]);
  const src = `${path}.src`;
  const commands = ['mkdir home', 'mkdir usr', 'mkdir var'];
  let written = 0;
  for (let i = 0; written < dataMiB; i++) {
    const mib = Math.min(dataMiB - written, 1 + (((i * 2654435761) >>> 0) % 64));
    const file = `${src}.${i}`;
    const buf = new Uint8Array(mib * MiB);
    // file contents hold no zero MiB (debugfs would leave it a hole): random data or text
    for (let m = 0; m < mib; m++) fillMixed(buf.subarray(m * MiB, (m + 1) * MiB), NONZERO_KINDS[(i * 64 + m) % NONZERO_KINDS.length]);
    writeFileSync(file, buf);
    commands.push(`write ${file} ${['home', 'usr', 'var'][i % 3]}/f${i}`);
    written += mib;
  }
  writeFileSync(`${src}.cmds`, `${commands.join('\n')}\n`);
  must('debugfs', ['-w', '-f', `${src}.cmds`, path]);
  for (let i = 0; existsSync(`${src}.${i}`); i++) rmSync(`${src}.${i}`);
  rmSync(`${src}.cmds`);
  writeFileSync(done, '');
  return path;
}

/**
 * A disk of `sizeGiB` with about `percent`% data in runs of 64 KiB to 4 MiB at
 * scattered places, holes elsewhere; the same each run.
 */
export function scatteredDisk(path, sizeGiB, percent) {
  const size = sizeGiB * 1024 * MiB;
  const done = `${path}.done`;
  if (existsSync(done) && existsSync(path) && statSync(path).size === size) return path;
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  const buf = new Uint8Array(4 * MiB);
  let x = 0x9e3779b9;
  const rand = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  let data = 0;
  const want = Math.floor((size * percent) / 100 / 65536) * 65536;
  while (data < want) {
    const length = Math.min(want - data, 64 * 1024 * 2 ** Math.floor(rand() * 7)); // 64 KiB .. 4 MiB
    const at = Math.floor((rand() * (size - length)) / 65536) * 65536;
    fillXorshift(buf.subarray(0, length), (data / 4096 + 1) >>> 0 || 1);
    writeSync(fd, buf, 0, length, at);
    data += length;
  }
  closeSync(fd);
  writeFileSync(done, '');
  return path;
}

/**
 * The bench disks in `dir` that `pick(name, index)` picks (default: all), each made when missing: a disk
 * not picked is not made (the largest take minutes and gigabytes to write).
 * @param {string} dir
 * @param {{ large?: boolean, pick?: (name: string, index: number) => boolean }} [options]
 * @returns {{ name: string, path: string, large?: boolean }[]}
 */
export function benchDisks(dir, { large = false, pick = () => true } = {}) {
  mkdirSync(dir, { recursive: true });
  /** @type {{ name: string, make: () => string, large?: boolean }[]} */
  const kinds = [
    { name: '3 GiB ext4, 640 MiB of files', make: () => ext4Disk(join(dir, 'ext4-3g.raw'), 3, 640) },
    { name: '3 GiB, 12% data in scattered runs', make: () => scatteredDisk(join(dir, 'scattered-3g.raw'), 3, 12) },
    { name: '2 GiB mixed (random, text and zero MiBs, every byte written: no holes)', make: () => mixedDisk(join(dir, 'mixed-2g.raw')) },
  ];
  if (large)
    kinds.push({ name: '64 GiB ext4, 6 GiB of files', make: () => ext4Disk(join(dir, 'ext4-64g.raw'), 64, 6 * 1024), large: true });
  return kinds.filter((kind, index) => pick(kind.name, index)).map(({ make, ...disk }) => ({ ...disk, path: make() }));
}

/** A 2 GiB file of mixed MiBs, every byte written, made when missing. */
function mixedDisk(path) {
  if (!existsSync(path) || statSync(path).size !== 2 * 1024 * MiB) writeMixedFile(path, 2 * 1024 * MiB, true);
  return path;
}

export { must };
