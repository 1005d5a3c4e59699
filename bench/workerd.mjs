// The encoder in workerd (the Cloudflare Workers runtime) beside Node, on the
// same 256 MiB body in the same run. The body is generated inside each
// runtime (1 MiB views over a 16 MiB mixed pattern) and drained in memory,
// so neither side pays for HTTP transfer of the payload.
//
// workerd is timed two ways: inside the Worker with Date.now() around the
// pipe (standalone workerd advances the clock during a request; production
// Workers would not), and from outside as the wall time of the HTTP request
// minus the median of an empty-body request (size=0) to the same Worker.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { VhdxEncoderStream } from '../dist/index.js';
import { bundleWorker, hasWorkerd, startWorkerd } from '../test/runtimes/workers/workerd.mjs';

const MiB = 1024 * 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mbps = (bytes, ms) => (bytes / 1e6 / (ms / 1000)).toFixed(0);

/** 16 MiB: per MiB, zeros, xorshift noise or text; the same in both runtimes. */
function makePattern() {
  const pattern = new Uint8Array(16 * 1024 * 1024);
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog\n');
  for (let mib = 0; mib < 16; mib++) {
    const part = pattern.subarray(mib * 1048576, (mib + 1) * 1048576);
    const kind = mib % 3;
    if (kind === 1) {
      let x = mib + 1;
      for (let i = 0; i < part.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        part[i] = x & 255;
      }
    } else if (kind === 2) {
      for (let at = 0; at < part.length; at += text.length) part.set(text.subarray(0, Math.min(text.length, part.length - at)), at);
    }
  }
  return pattern;
}

/**
 * Encodes `size` bytes (1 MiB chunks cycling over `pattern`) and drains the
 * output; returns milliseconds by Date.now() and the bytes produced. With
 * `sparse`, the disk has 1 MiB blocks and an allocation map, so the encoder
 * leaves the all-zero MiBs out after checking them with the WASM kernel.
 * The same source text runs in Node and, bundled, in the Worker.
 */
async function encodeGenerated(Encoder, pattern, size, sparse) {
  const MiB = 1048576;
  /** @type {object} */
  let options = { virtualSize: size };
  if (sparse) {
    // makePattern's zero MiBs are those with mib % 3 === 0
    const present = new Uint8Array(size / MiB).map((_, b) => ((b % (pattern.length / MiB)) % 3 === 0 ? 0 : 1));
    options = { allocationMap: { virtualSize: size, blockSize: MiB, present } };
  }
  const t0 = Date.now();
  let produced = 0;
  const source = new ReadableStream({
    pull(controller) {
      if (produced >= size) return controller.close();
      const at = produced % pattern.length;
      controller.enqueue(pattern.subarray(at, at + MiB));
      produced += MiB;
    },
  });
  let out = 0;
  for await (const chunk of source.pipeThrough(new Encoder(options))) out += chunk.length;
  return { ms: Date.now() - t0, out };
}

const WORKER = `import { VhdxEncoderStream, init } from 'vhdx-stream';
${makePattern.toString()}
${encodeGenerated.toString()}
let pattern;
export default {
  async fetch(request) {
    const query = new URL(request.url).searchParams;
    const size = Number(query.get('size'));
    if (size === 0) return Response.json({ ms: 0, out: 0 });
    await init();
    pattern ??= makePattern();
    return Response.json(await encodeGenerated(VhdxEncoderStream, pattern, size, query.has('sparse')));
  },
};
`;

async function timedRequest(url) {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = await res.json();
  if (!res.ok) throw new Error(`workerd answered ${res.status}: ${JSON.stringify(body)}`);
  return { ...body, wall: performance.now() - t0 };
}

export async function workerdBench({ runs = 15, size = 256 * MiB } = {}) {
  console.log(
    `\nworkerd (Cloudflare Workers runtime): the encoder on a ${size / MiB} MiB body generated in memory, 1 MiB chunks (median of ${runs})`,
  );
  if (!hasWorkerd()) {
    console.log('  skipped: workerd is not installed (npm ci --prefix test/runtimes)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vhdx-bench-workerd-'));
  const workerd = await startWorkerd(await bundleWorker(WORKER, dir), 'config');
  try {
    const pattern = makePattern();
    console.log(
      `  ${''.padEnd(44)} ${'node'.padStart(10)} ${'workerd, Date.now() inside'.padStart(30)} ${'workerd, HTTP minus empty'.padStart(30)}`,
    );
    for (const [label, sparse] of [
      ['every block stored (as examples/worker)', false],
      ['1 MiB blocks, zero blocks left out by map', true],
    ]) {
      const query = `size=${size}${sparse ? '&sparse' : ''}`;
      await encodeGenerated(VhdxEncoderStream, pattern, 16 * MiB, sparse); // warm both sides
      await timedRequest(`${workerd.url}/?size=${16 * MiB}${sparse ? '&sparse' : ''}`);
      const node = [];
      const inside = [];
      const wall = [];
      const empty = [];
      for (let i = 0; i < runs; i++) {
        node.push((await encodeGenerated(VhdxEncoderStream, pattern, size, sparse)).ms);
        const r = await timedRequest(`${workerd.url}/?${query}`);
        inside.push(r.ms);
        wall.push(r.wall);
        empty.push((await timedRequest(`${workerd.url}/?size=0`)).wall);
      }
      const nodeMs = median(node);
      const cell = (ms) => `${mbps(size, ms)} MB/s (${(nodeMs / ms).toFixed(2)}x)`;
      console.log(
        `  ${String(label).padEnd(44)} ${`${mbps(size, nodeMs)} MB/s`.padStart(10)} ${cell(median(inside)).padStart(30)} ${cell(median(wall) - median(empty)).padStart(30)}`,
      );
    }
    console.log(
      `  (load average ${loadavg()[0].toFixed(1)} over ${cpus().length} cores: a loaded machine makes these runs of tens of ms noisy)`,
    );
    console.log('  (x: workerd / node; "HTTP minus empty": wall time of the request minus that of a size=0 request to the same Worker)');
  } finally {
    await workerd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
