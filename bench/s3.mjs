// `npm run bench s3 [--quick]`: a mixed raw disk in an S3-compatible store
// (the Ceph gateway of scripts/rgw.sh, or whatever AWS_ENDPOINT_URL and the
// AWS_* keys name) converted store -> store by `vhdx convert`: single stream,
// --parallel 2 and --parallel 4, beside the upload floor (bench/s3-copy.mjs:
// the same bytes read by ranged GETs and uploaded as a multipart upload with
// the same part size and checksums, through the same client). Runs alternate;
// medians. MB/s are raw-disk bytes per second of wall time (the floor moves
// them once; a conversion reads them twice, scan then render, and uploads
// its VHDX, which leaves the all-zero blocks out).
//
// Size: 8 GiB (BENCH_S3_SIZE=N, with K/M/G; --quick: 256 MiB); runs a row:
// 5 (BENCH_S3_RUNS=N; --quick: 3). The gateway's
// memstore OSD keeps every object in RAM: the raw disk, one output and one
// copy at most at once (each run's object is removed after it), so the store
// needs about 2.5x the disk: start it with RGW_MEMSTORE_BYTES set (printed
// below when the store is too small to say so). Everything the bench stores is
// removed at the end, also after a failure.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { join } from 'node:path';
import { s3Fetch, s3ObjectUrl, uploadToS3 } from '../dist/index.js';
import { median } from './e2e.mjs';
import { storeLocation } from './s3-store.mjs';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const here = process.cwd();
const cli = join(here, 'bin/vhdx.js');

function sizeOf(text) {
  const m = /^(\d+)([KMG]?)$/i.exec(text.trim());
  if (!m) throw new Error(`BENCH_S3_SIZE: a number of bytes with K, M or G, got ${text}`);
  return Number(m[1]) * { '': 1, K: 1024, M: MiB, G: GiB }[m[2].toUpperCase()];
}

/**
 * The mixed raw disk as a stream: per 8 MiB, 3 of 8 all zero, 1 of 8 with a
 * few scattered bytes, the rest data (a random 4 MiB pattern stamped with its
 * offset, so no two blocks are alike).
 */
function mixedRaw(size) {
  const pattern = new Uint8Array(4 * MiB);
  for (let i = 0; i < pattern.length; i += 65536) crypto.getRandomValues(pattern.subarray(i, i + 65536));
  let at = 0;
  return new ReadableStream(
    {
      pull(controller) {
        if (at >= size) {
          controller.close();
          return;
        }
        const n = Math.min(4 * MiB, size - at);
        const kind = Math.floor(at / (8 * MiB)) % 8;
        const chunk = new Uint8Array(n);
        if (kind >= 4) {
          chunk.set(pattern.subarray(0, n));
          new DataView(chunk.buffer).setFloat64(0, at);
        } else if (kind === 3) for (let i = 4096; i < n; i += 1024 * 1024) chunk[i] = 1 + (i & 0x7f);
        at += n;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Wall seconds, CPU seconds and peak RSS (MiB, worker threads included) of one run. */
function timed(args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, ...args], { encoding: 'utf8', env: process.env });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  const [wall = NaN, user = NaN, sys = NaN, kb = NaN] = (r.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
  return { wall, cpu: user + sys, rss: kb / 1024 };
}

export async function s3Bench({ quick = false } = {}) {
  const env = process.env;
  const size = quick ? 256 * MiB : env.BENCH_S3_SIZE ? sizeOf(env.BENCH_S3_SIZE) : 8 * GiB;
  const need = Math.ceil((size * 2.5) / GiB + 1);
  console.log(
    `\nS3 store -> store: a ${(size / GiB).toFixed(2)} GiB mixed raw disk; the store needs about ${need} GiB ` +
      `(Ceph memstore: RGW_MEMSTORE_BYTES=${need * GiB} scripts/rgw.sh start, in RAM); ${os.cpus().length} cores here`,
  );
  if (!env.AWS_ENDPOINT_URL || !env.AWS_ACCESS_KEY_ID) {
    console.log('  no store: export the variables scripts/rgw.sh start prints (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …): skipped');
    return;
  }
  /** @param {string} key */
  const location = (key) => storeLocation(bucket, key);
  const bucket = `vhdx-bench-${Date.now()}`;
  const send = (method, key, query = '') => {
    const at = location(key);
    const url = new URL(s3ObjectUrl(at));
    if (!key) url.pathname = `/${bucket}`;
    return s3Fetch(at)(`${url}${query}`, { method });
  };
  const remove = (key) => send('DELETE', key);
  const runs = Number(process.env.BENCH_S3_RUNS ?? (quick ? 3 : 5));
  /** @type {[string, (out: string) => string[]][]} */
  const rows = [
    ['floor: ranged GETs -> multipart', (out) => [join(here, 'bench/s3-copy.mjs'), bucket, 'disk.raw', out]],
    ['vhdx convert, single stream', (out) => [cli, 'convert', `s3://${bucket}/disk.raw`, `s3://${bucket}/${out}`, '-q']],
    ['vhdx convert --parallel 2', (out) => [cli, 'convert', `s3://${bucket}/disk.raw`, `s3://${bucket}/${out}`, '-q', '--parallel', '2']],
    ['vhdx convert --parallel 4', (out) => [cli, 'convert', `s3://${bucket}/disk.raw`, `s3://${bucket}/${out}`, '-q', '--parallel', '4']],
  ];
  const made = (await send('PUT', '')).status;
  if (made !== 200) throw new Error(`creating the bucket answered ${made}`);
  try {
    const start = process.hrtime.bigint();
    await uploadToS3(mixedRaw(size), { ...location('disk.raw'), outputSize: size });
    console.log(
      `  raw disk stored in ${(Number(process.hrtime.bigint() - start) / 1e9).toFixed(1)} s; ${runs} runs a row, alternating, medians`,
    );
    /** @type {{ wall: number; cpu: number; rss: number }[][]} */
    const times = rows.map(() => []);
    for (let run = 0; run < runs; run++) {
      for (const [i, [, args]] of rows.entries()) {
        const out = `out-${i}.${i === 0 ? 'raw' : 'vhdx'}`;
        times[i].push(timed(args(out)));
        await remove(out);
      }
    }
    const m = (i, k) => median(times[i].map((x) => x[k]));
    const floor = m(0, 'wall');
    for (const [i, [title]] of rows.entries()) {
      const t = m(i, 'wall');
      const ratio = i === 0 ? '' : `  ${(floor / t).toFixed(2)}x floor`;
      console.log(
        `  ${title.padEnd(34)} ${t.toFixed(2)} s  ${(size / MiB / t).toFixed(0).padStart(5)} MB/s  cpu ${m(i, 'cpu').toFixed(2)} s` +
          `  ${m(i, 'rss').toFixed(0).padStart(4)} MiB${ratio}`,
      );
    }
    console.log('  goal: single stream >= 0.8x floor');
  } finally {
    for (const key of ['disk.raw', ...rows.map((_, i) => `out-${i}.${i === 0 ? 'raw' : 'vhdx'}`)]) await remove(key).catch(() => {});
    const uploads = await (await send('GET', '', '?uploads')).text();
    for (const [, key, id] of uploads.matchAll(/<Key>([^<]*)<\/Key>[\s\S]*?<UploadId>([^<]*)<\/UploadId>/g)) {
      await send('DELETE', key, `?uploadId=${encodeURIComponent(id)}`).catch(() => {});
    }
    await send('DELETE', '');
  }
}
