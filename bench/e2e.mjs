// End-to-end benchmarks: in-memory stream throughput, and whole-command
// conversions beside qemu-img on the same files, run alternately.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeSync, closeSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VhdxEncoderStream, VhdxDecoderStream, scanAllocation } from '../dist/node/index.js';

const MiB = 1024 * 1024;
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Pseudo-random words from a nonzero `seed` (xorshift32): the same each run. */
export function fillXorshift(buf, seed) {
  let x = seed;
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
}

/** Mixed contents: per 1 MiB, random data, text, or zeros; the same each run. */
export function fillMixed(buf, mibIndex) {
  const kind = (mibIndex * 2654435761) % 7;
  if (kind <= 2) {
    buf.fill(0);
    return;
  }
  if (kind <= 4) return fillXorshift(buf, mibIndex + 1);
  const text = Buffer.from(`block ${mibIndex}: the quick brown fox jumps over the lazy dog\n`);
  for (let at = 0; at < buf.length; at += text.length) text.copy(buf, at, 0, Math.min(text.length, buf.length - at));
}

function makeMixed(bytes) {
  const out = new Uint8Array(bytes);
  for (let i = 0; i * MiB < bytes; i++) fillMixed(out.subarray(i * MiB, (i + 1) * MiB), i);
  return out;
}

function chunks(bytes, size) {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.subarray(at, Math.min(bytes.length, at + size)));
      at += size;
    },
  });
}

async function drain(stream) {
  let n = 0;
  for await (const c of stream) n += c.length;
  return n;
}

async function timeIt(runs, fn) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

export async function memoryBench({ runs = 5 } = {}) {
  const size = 1024 * MiB;
  const raw = makeMixed(size);
  console.log(`\nIn memory, 1 GiB mixed image in 1 MiB chunks (median of ${runs})`);
  const fixed = await timeIt(runs, () => drain(chunks(raw, MiB).pipeThrough(new VhdxEncoderStream({ virtualSize: size, type: 'fixed' }))));
  console.log(`  encode fixed                         ${(size / fixed / 1e9).toFixed(2)} GB/s`);
  const map = await scanAllocation(raw);
  const scan = await timeIt(runs, () => scanAllocation(raw));
  console.log(`  scan allocation map                  ${(size / scan / 1e9).toFixed(2)} GB/s`);
  const dyn = await timeIt(runs, () => drain(chunks(raw, MiB).pipeThrough(new VhdxEncoderStream({ allocationMap: map }))));
  console.log(`  encode dynamic with a scanned map    ${(size / dyn / 1e9).toFixed(2)} GB/s`);
  const parts = [];
  for await (const c of chunks(raw, MiB).pipeThrough(new VhdxEncoderStream({ allocationMap: map }))) parts.push(c);
  const vhdx = Buffer.concat(parts);
  const dec = await timeIt(runs, () => drain(chunks(vhdx, MiB).pipeThrough(new VhdxDecoderStream())));
  console.log(`  decode dynamic (raw bytes out)       ${(size / dec / 1e9).toFixed(2)} GB/s`);
}

/** `dense`: every byte written (as a downloaded or dd-copied image is); otherwise zero MiBs stay holes. */
export function writeMixedFile(path, bytes, dense) {
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(MiB);
  for (let i = 0; i * MiB < bytes; i++) {
    fillMixed(buf, i);
    if (dense || buf.some((b) => b !== 0)) writeSync(fd, buf, 0, MiB, i * MiB);
  }
  closeSync(fd);
  spawnSync('truncate', ['-s', String(bytes), path]);
}

export const hasTime = existsSync('/usr/bin/time');

/** Runs a shell command; returns wall seconds and peak RSS in MiB (via /usr/bin/time when present). */
export function runCommand(cmd) {
  // start every run with no dirty pages from the previous one, so neither
  // command pays for the other's writeback (the flush is not timed)
  spawnSync('sync');
  const wrapped = hasTime ? ['/usr/bin/time', ['-f', '%M', 'sh', '-c', cmd]] : ['sh', ['-c', cmd]];
  const t0 = performance.now();
  const r = spawnSync(/** @type {string} */ (wrapped[0]), /** @type {string[]} */ (wrapped[1]), { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const kb = hasTime ? Number(r.stderr.trim().split('\n').pop()) : NaN;
  return { wall, rssMiB: kb / 1024 };
}

/**
 * Runs `ours` and `peer` alternately. Each command's output file (`outputs`)
 * is deleted, untimed, before it runs, so no run pays for truncating the last.
 */
function pair(title, ours, peer, runs, outputs = {}, label = 'vhdx-stream') {
  const a = [];
  const b = [];
  const ratios = [];
  for (let i = 0; i < runs; i++) {
    if (outputs.ours) rmSync(outputs.ours, { force: true });
    const x = runCommand(ours);
    a.push(x);
    if (peer) {
      if (outputs.peer) rmSync(outputs.peer, { force: true });
      const y = runCommand(peer);
      b.push(y);
      ratios.push(x.wall / y.wall);
    }
  }
  const fmt = (xs) =>
    `${median(xs.map((x) => x.wall)).toFixed(3)} s, peak RSS ${hasTime ? `${median(xs.map((x) => x.rssMiB)).toFixed(0)} MiB` : 'n/a'}`;
  console.log(`\n${title}`);
  console.log(`  ${label.padEnd(13)} ${fmt(a)}`);
  if (peer) {
    console.log(`  qemu-img      ${fmt(b)}`);
    console.log(
      `  ratio ${label} / qemu-img: median ${median(ratios).toFixed(2)} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)})`,
    );
  }
}

/** tmpfs when it has room (measures the converters, not a shared disk), else .bench/; `name`: the folder in /dev/shm. */
export function benchDir(needGiB, name = 'vhdx-stream-bench') {
  const r = spawnSync('df', ['-B1', '--output=avail', '/dev/shm'], { encoding: 'utf8' });
  const avail = Number((r.stdout ?? '').trim().split('\n').pop());
  return avail > (needGiB + 2) * 1024 * MiB ? `/dev/shm/${name}` : '.bench';
}

export async function fileBench({ runs = 5, sizeGiB = 2, dir = process.env.BENCH_DIR ?? benchDir(sizeGiB * 8) } = {}) {
  mkdirSync(dir, { recursive: true });
  const size = sizeGiB * 1024 * MiB;
  const raw = join(dir, 'in.raw');
  const sparse = join(dir, 'sparse.raw');
  if (!existsSync(raw) || statSync(raw).size !== size) writeMixedFile(raw, size, true);
  if (!existsSync(sparse) || statSync(sparse).size !== size) writeMixedFile(sparse, size, false);
  const qemu = spawnSync('qemu-img', ['--version']).status === 0;
  if (!qemu) console.log('\nqemu-img not installed: the qemu-img rows are skipped');
  const cli = `node ${join(process.cwd(), 'bin/vhdx.js')}`;
  console.log(
    `\nFiles in ${dir}: ${sizeGiB} GiB mixed image, ${runs} runs each, alternating${hasTime ? '' : ' (/usr/bin/time missing: no RSS)'}`,
  );
  const out = (name) => join(dir, name);
  // one row: `vhdx convert <input> <ours> [flags]` beside `qemu-img convert <qemuArgs> <input> <theirs>`
  const row = (title, input, [ours, flags = ''], [qemuArgs, theirs]) =>
    pair(
      title,
      `${cli} convert ${input} ${out(ours)} ${flags}`,
      qemu ? `qemu-img convert ${qemuArgs} ${input} ${out(theirs)}` : undefined,
      runs,
      { ours: out(ours), peer: out(theirs) },
    );
  row('raw -> VHDX (dynamic), dense raw input', raw, ['out.vhdx'], ['-f raw -O vhdx', 'q.vhdx']);
  row(
    'raw -> VHDX (dynamic), sparse raw input (qemu-img skips its holes with SEEK_DATA; Node cannot)',
    sparse,
    ['s.vhdx'],
    ['-f raw -O vhdx', 'qs.vhdx'],
  );
  row('raw -> VHDX (fixed), dense raw input', raw, ['f.vhdx', '--type fixed'], ['-f raw -O vhdx -o subformat=fixed', 'qf.vhdx']);
  row('VHDX -> raw', out('out.vhdx'), ['back.raw'], ['-f vhdx -O raw', 'q.raw']);
  pair(
    'I/O floor: bench/io-floor.mjs (reads, zero checks, writes; no VHDX work) beside qemu-img raw -> VHDX',
    `node ${join(process.cwd(), 'bench/io-floor.mjs')} ${raw} ${out('floor.out')}`,
    qemu ? `qemu-img convert -f raw -O vhdx ${raw} ${out('q.vhdx')}` : undefined,
    runs,
    { ours: out('floor.out'), peer: out('q.vhdx') },
    'io-floor',
  );
  pair(
    'streaming: cat in.raw | vhdx convert - - --size N > out.vhdx',
    `cat ${raw} | ${cli} convert - - --size ${size} > ${out('piped.vhdx')}`,
    undefined,
    Math.max(1, Math.floor(runs / 2)),
  );
  for (const f of ['out.vhdx', 'q.vhdx', 's.vhdx', 'qs.vhdx', 'f.vhdx', 'qf.vhdx', 'back.raw', 'q.raw', 'piped.vhdx', 'floor.out'])
    rmSync(join(dir, f), { force: true });
  if (dir.startsWith('/dev/shm/')) rmSync(dir, { recursive: true, force: true });
}

/** A shell command that feeds `input` through a new named FIFO at `fifo` into `command`. */
function fifoCommand(fifo, input, command) {
  return `rm -f ${fifo} && mkfifo ${fifo} && { cat ${input} > ${fifo} & } && ${command}; status=$?; wait; rm -f ${fifo}; exit $status`;
}

/** Peak RSS of each command at 1 GiB and 4 GiB: memory must not depend on the image size. */
export async function rssBench({ dir = process.env.BENCH_DIR ?? benchDir(16) } = {}) {
  mkdirSync(dir, { recursive: true });
  const cli = `node ${join(process.cwd(), 'bin/vhdx.js')}`;
  console.log('\nPeak RSS by image size (dense input, median of 3)');
  for (const gib of [1, 4]) {
    const big = join(dir, `rss-${gib}.raw`);
    writeMixedFile(big, gib * 1024 * MiB, true);
    const rows = [
      ['raw -> VHDX file', `${cli} convert ${big} ${join(dir, 'rss.vhdx')}`],
      ['VHDX -> raw file', `${cli} convert ${join(dir, 'rss.vhdx')} ${join(dir, 'rss.raw')}`],
      ['raw stdin -> VHDX stdout', `cat ${big} | ${cli} convert - - --size ${gib * 1024 * MiB} > ${join(dir, 'rss-piped.vhdx')}`],
      // a VHDX on stdin is decoded and re-encoded in one pass, never held whole
      ['VHDX stdin -> VHDX file', `cat ${join(dir, 'rss.vhdx')} | ${cli} convert - ${join(dir, 'rss-piped.vhdx')} --to vhdx`],
      ['VHDX stdin -> VHDX stdout', `cat ${join(dir, 'rss.vhdx')} | ${cli} convert - - --to vhdx > ${join(dir, 'rss-piped.vhdx')}`],
      // a named FIFO is read as a stream, like -
      [
        'raw FIFO -> VHDX file',
        fifoCommand(join(dir, 'rss.fifo'), big, `${cli} convert ${join(dir, 'rss.fifo')} ${join(dir, 'rss-piped.vhdx')}`),
      ],
    ];
    for (const [name, cmd] of rows) {
      const rss = [0, 1, 2].map(() => runCommand(cmd).rssMiB);
      console.log(`  ${gib} GiB  ${name.padEnd(26)} ${hasTime ? `${median(rss).toFixed(0)} MiB` : 'n/a'}`);
    }
    for (const f of [big, join(dir, 'rss.vhdx'), join(dir, 'rss.raw'), join(dir, 'rss-piped.vhdx'), join(dir, 'rss.fifo')])
      rmSync(f, { force: true });
  }
  if (dir.startsWith('/dev/shm/')) rmSync(dir, { recursive: true, force: true });
}
