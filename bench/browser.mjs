// `npm run bench browser`: the converter page's code (web/src/convert.ts) in
// Chromium, in a module Worker: a 1 GiB raw File -> VHDX in OPFS (written
// through a sync access handle), and that VHDX -> raw in OPFS (read through
// one, as the page does for a file in OPFS); beside the Node file path
// (convertRawFileToVhdx / convertVhdxFileToRaw) on the same filesystem,
// alternating. Beside them, floors: reading the File alone (File.stream(), as
// 8 MiB slices, and as the page reads it: 8 MiB chunks through a BYOB reader)
// and reading OPFS through an access handle. Peak memory: the
// renderer's RSS from /proc, and the Node process's RSS, sampled every 50 ms.
// BENCH_BROWSER_GIB sets the size (default 1).
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { convertRawFileToVhdx, convertVhdxFileToRaw } from '../dist/node/index.js';
import { serveStatic } from '../web/server.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `size` bytes in 1 MiB runs, half random and half zeros (a fixed shuffle), written densely as a downloaded image would be. */
function writeHalfRandom(path, size) {
  const order = Array.from({ length: size / MiB }, (_, i) => i % 2);
  let x = 0x2545f491;
  for (let i = order.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const fd = openSync(path, 'w');
  const random = Buffer.alloc(MiB);
  const zeros = Buffer.alloc(MiB);
  order.forEach((isRandom, i) => {
    if (isRandom) randomFillSync(random);
    writeSync(fd, isRandom ? random : zeros, 0, MiB, i * MiB);
  });
  closeSync(fd);
}

/** tmpfs when it has room for the files of both sides, else .bench/; Chromium's profile (and OPFS) goes there too. */
function benchDir(SIZE) {
  const r = spawnSync('df', ['-B1', '--output=avail', '/dev/shm'], { encoding: 'utf8' });
  const avail = Number((r.stdout ?? '').trim().split('\n').pop());
  return avail > 8 * SIZE ? '/dev/shm/vhdx-stream-browser-bench' : join(ROOT, '.bench/browser');
}

/** The pids of every process descending from `root`, with their command lines. */
function descendants(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {}
  }
  const out = [];
  const walk = (pid) => {
    for (const c of children.get(pid) ?? []) {
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${c}/cmdline`, 'utf8');
      } catch {}
      out.push({ pid: c, cmd });
      walk(c);
    }
  };
  walk(root);
  return out;
}

function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples `read()` every 50 ms until stopped; returns the peak. */
function sampler(read) {
  let peak = read();
  const timer = setInterval(() => (peak = Math.max(peak, read())), 50);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, read());
    },
  };
}

// The Worker: the page's conversion functions and I/O, as the page runs them
// for a chosen File (raw -> VHDX) and for a VHDX already in OPFS (VHDX -> raw).
const WORKER = `
import { rawToVhdxSeekable, vhdxToRawSeekable } from './web/src/convert.ts';
import { accessHandleSource } from './web/src/io.ts';
import { inputChunks } from './web/src/chunks.ts';
const options = { signal: new AbortController().signal, onProgress() {} };
self.onmessage = async ({ data }) => {
  try {
    const root = await navigator.storage.getDirectory();
    for (const name of data.remove) await root.removeEntry(name).catch(() => {});
    const t0 = performance.now();
    if (data.task === 'read-file') {
      let size = 0;
      for await (const chunk of data.file.stream()) size += chunk.length;
      return self.postMessage({ ms: performance.now() - t0, size });
    }
    if (data.task === 'read-chunks') {
      let size = 0;
      for await (const chunk of inputChunks(data.file, 8 << 20)) size += chunk.length;
      return self.postMessage({ ms: performance.now() - t0, size });
    }
    if (data.task === 'read-slices') {
      let size = 0, next = 0;
      const lane = async () => { while (next < data.file.size) { const at = next; next += 8 << 20; size += (await data.file.slice(at, at + (8 << 20)).arrayBuffer()).byteLength; } };
      await Promise.all([lane(), lane(), lane(), lane()]);
      return self.postMessage({ ms: performance.now() - t0, size });
    }
    if (data.task === 'read-opfs') {
      const input = await (await root.getFileHandle('bench.vhdx')).createSyncAccessHandle();
      const buffer = new Uint8Array(8 << 20);
      const size = input.getSize();
      for (let at = 0; at < size; at += buffer.length) input.read(buffer, { at });
      input.close();
      return self.postMessage({ ms: performance.now() - t0, size });
    }
    const out = await root.getFileHandle(data.task === 'to-vhdx' ? 'bench.vhdx' : 'bench.raw', { create: true });
    const access = await out.createSyncAccessHandle();
    if (data.task === 'to-vhdx') await rawToVhdxSeekable(data.file, access, options);
    else {
      const input = await (await root.getFileHandle('bench.vhdx')).createSyncAccessHandle();
      await vhdxToRawSeekable(accessHandleSource(input), access, options);
    }
    const ms = performance.now() - t0;
    self.postMessage({ ms, size: (await out.getFile()).size });
  } catch (err) {
    self.postMessage({ error: String(err && err.message || err) });
  }
};
`;

async function buildBenchSite(dir) {
  mkdirSync(dir, { recursive: true });
  await build({
    stdin: { contents: WORKER, resolveDir: ROOT, loader: 'ts', sourcefile: 'bench-worker.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: join(dir, 'worker.js'),
    logLevel: 'warning',
  });
  writeFileSync(
    join(dir, 'index.html'),
    `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><input type="file" id="file">
<script type="module">
  const worker = new Worker('./worker.js', { type: 'module' });
  window.runTask = (task, remove) => new Promise((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.postMessage({ task, remove, file: document.getElementById('file').files[0] });
  });
</script>\n`,
  );
}

export async function browserBench({ runs = 3, sizeGiB = Number(process.env.BENCH_BROWSER_GIB ?? 1) } = {}) {
  const SIZE = sizeGiB * 1024 * MiB;
  console.log(
    `\nBrowser (Chromium, module Worker, OPFS sync access handles) beside Node files; ${sizeGiB} GiB, half random / half zeros in 1 MiB runs; median of ${runs}, alternating`,
  );
  let chromium;
  try {
    ({ chromium } = await import(join(ROOT, 'test/runtimes/node_modules/playwright-core/index.mjs')));
  } catch {
    console.log('  skipped: playwright-core is not installed (npm ci --prefix test/runtimes)');
    return;
  }
  if (!existsSync(CHROMIUM)) {
    console.log(`  skipped: ${CHROMIUM} not found`);
    return;
  }
  const loadBefore = loadavg()[0].toFixed(1);
  const dir = benchDir(SIZE);
  mkdirSync(dir, { recursive: true });
  const raw = join(dir, 'in.raw');
  if (!existsSync(raw) || statSync(raw).size !== SIZE) writeHalfRandom(raw, SIZE);
  const site = join(dir, 'site');
  await buildBenchSite(site);
  const server = await serveStatic(site);
  // a persistent profile, so OPFS is on disk (incognito keeps it in memory), on
  // the same filesystem as the Node side's files
  rmSync(join(dir, 'profile'), { recursive: true, force: true });
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: CHROMIUM, args: ['--no-sandbox'] });
  /** @type {{ key: string, title: string, node?: () => Promise<unknown>, nodeOut?: string, remove: string[] }[]} */
  const tasks = [
    {
      key: 'to-vhdx',
      title: 'raw File -> VHDX',
      node: () => convertRawFileToVhdx(raw, join(dir, 'node.vhdx')),
      nodeOut: 'node.vhdx',
      remove: ['bench.raw', 'bench.vhdx'],
    },
    {
      key: 'to-raw',
      title: 'VHDX -> raw',
      node: () => convertVhdxFileToRaw(join(dir, 'node.vhdx'), join(dir, 'node.raw')),
      nodeOut: 'node.raw',
      remove: ['bench.raw'],
    },
    { key: 'read-file', title: 'floor: File.stream()', remove: [] },
    { key: 'read-opfs', title: 'floor: OPFS handle read', remove: [] },
    { key: 'read-slices', title: 'read File, 8 MiB slices', remove: [] },
    { key: 'read-chunks', title: 'floor: page File reader', remove: [] },
  ];
  /** @type {Record<string, { browser: number[], node: number[], renderer: number, chromium: number, nodeRss: number, sizes: string }>} */
  const rows = Object.fromEntries(tasks.map((t) => [t.key, { browser: [], node: [], renderer: 0, chromium: 0, nodeRss: 0, sizes: '' }]));
  let rendererIdle = 0;
  try {
    const page = await context.newPage();
    await page.goto(server.url);
    await page.setInputFiles('#file', raw);
    const chromiumProcesses = () => descendants(process.pid).filter((p) => p.cmd.includes('chromium'));
    rendererIdle = Math.max(
      ...chromiumProcesses()
        .filter((p) => p.cmd.includes('--type=renderer'))
        .map((p) => rssMiB(p.pid)),
    );
    for (let i = 0; i < runs; i++) {
      for (const task of tasks) {
        const row = rows[task.key];
        if (task.node && task.nodeOut) {
          rmSync(join(dir, task.nodeOut), { force: true });
          const n = sampler(() => process.memoryUsage().rss / MiB);
          const t0 = performance.now();
          await task.node();
          row.node.push((performance.now() - t0) / 1000);
          row.nodeRss = Math.max(row.nodeRss, n.stop());
        }
        const procs = chromiumProcesses();
        const renderers = procs.filter((p) => p.cmd.includes('--type=renderer')).map((p) => p.pid);
        const r = sampler(() => Math.max(...renderers.map(rssMiB)));
        const all = sampler(() => procs.reduce((sum, p) => sum + rssMiB(p.pid), 0));
        const reply = await page.evaluate(([key, remove]) => /** @type {any} */ (window).runTask(key, remove), [task.key, task.remove]);
        row.renderer = Math.max(row.renderer, r.stop());
        row.chromium = Math.max(row.chromium, all.stop());
        if (reply.error) throw new Error(`browser ${task.key}: ${reply.error}`);
        row.browser.push(reply.ms / 1000);
        if (task.nodeOut) {
          const nodeSize = statSync(join(dir, task.nodeOut)).size;
          row.sizes = reply.size === nodeSize ? 'same size' : `sizes differ: ${reply.size} vs ${nodeSize}`;
        }
      }
    }
  } finally {
    await context.close();
    await server.close();
  }
  const speed = (secs) => `${(SIZE / median(secs) / 1e6).toFixed(0).padStart(5)} MB/s (${median(secs).toFixed(2)} s)`;
  for (const task of tasks) {
    const row = rows[task.key];
    const memory = `peak RSS renderer ${row.renderer.toFixed(0)} MiB, all Chromium ${row.chromium.toFixed(0)} MiB`;
    if (!task.node) {
      console.log(`  ${task.title.padEnd(24)} browser ${speed(row.browser)}   ${memory}`);
      continue;
    }
    const ratio = median(row.node) / median(row.browser);
    console.log(
      `  ${task.title.padEnd(24)} browser ${speed(row.browser)}   node ${speed(row.node)}   browser/node ${ratio.toFixed(2)}  (${row.sizes})`,
    );
    console.log(`  ${''.padEnd(24)} ${memory}; node process ${row.nodeRss.toFixed(0)} MiB`);
  }
  console.log(
    `  renderer idle ${rendererIdle.toFixed(0)} MiB; load average before/after ${loadBefore} / ${loadavg()[0].toFixed(1)} (2 cores, shared: single figures vary)`,
  );
  for (const f of ['node.vhdx', 'node.raw', 'profile', 'site']) rmSync(join(dir, f), { recursive: true, force: true });
  if (dir.startsWith('/dev/shm/')) rmSync(dir, { recursive: true, force: true });
}
