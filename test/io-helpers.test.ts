// The Node I/O helpers: write batching, the pooled descriptor reader, the
// chunk-driven converters built on them, and the progress line.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VhdxEncoderStream, openVhdx } from '../src/node/index.js';
import { encodeRawChunks, rawChunksToVhdxFile } from '../src/node/convert.js';
import { prepareOutput } from '../src/node/output.js';
import { openForWriting } from '../src/node/file-io.js';
import { readChunks } from '../src/node/fd-reader.js';
import { Progress } from '../src/node/progress.js';
import { WriteBatch } from '../src/streams/write-batch.js';
import { chunkedStream, collect, makeRaw } from './helpers/images.js';
import { pseudoRandomBytes } from './helpers/reference.js';
import { sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const dir = tempDir();
afterAll(() => dir.cleanup());

/** Applies writes to a growing file and counts them. */
function recorder() {
  const file = new Uint8Array(1 << 22);
  const sizes: number[] = [];
  return {
    file,
    sizes,
    async write(data: Uint8Array, position: number) {
      sizes.push(data.length);
      file.set(data, position);
      await new Promise((r) => setTimeout(r, 0));
      data.fill(0xee); // the batch must not rely on data after the write settled
    },
  };
}

describe('WriteBatch', () => {
  it('gathers back-to-back small writes into full buffers and ends with the same bytes', async () => {
    const src = pseudoRandomBytes(3 << 20, 5);
    const rec = recorder();
    const batch = new WriteBatch(rec.write, 1 << 20);
    for (let at = 0; at < src.length; at += 65536) await batch.add(src.slice(at, at + 65536), at);
    await batch.flush();
    expect(rec.sizes).toEqual([1 << 20, 1 << 20, 1 << 20]);
    expect(Buffer.compare(rec.file.subarray(0, src.length), src)).toBe(0);
  });

  it('flushes on a gap, passes large pieces straight through, and keeps every byte', async () => {
    const rec = recorder();
    const want = new Uint8Array(rec.file.length);
    const batch = new WriteBatch(rec.write, 1 << 16);
    const pieces: [number, number][] = [
      [0, 1000],
      [1000, 3000],
      [10000, 500], // a gap after 4000
      [10500, 40000],
      [50500, 30000], // the second does not fit: flush, then start over
      [200000, 1 << 16], // large: written as it is
      [200000 + (1 << 16), 7],
      [300000, 1],
    ];
    let seed = 1;
    for (const [position, length] of pieces) {
      const data = pseudoRandomBytes(length, seed++);
      want.set(data, position);
      await batch.add(data.slice(), position);
    }
    await batch.flush();
    expect(Buffer.compare(rec.file, want)).toBe(0);
    expect(rec.sizes).toEqual([4000, 40500, 30000, 1 << 16, 7, 1]);
  });

  it.each([false, true])('addScattered writes pieces lying apart, after what was gathered (concurrent target: %s)', async (concurrent) => {
    const rec = recorder();
    let inFlight = 0;
    let most = 0;
    const write = async (data: Uint8Array, position: number) => {
      most = Math.max(most, ++inFlight);
      await rec.write(data, position);
      inFlight--;
    };
    const batch = new WriteBatch(write, 1 << 16, concurrent);
    const want = new Uint8Array(rec.file.length);
    const gathered = pseudoRandomBytes(3000, 1);
    want.set(gathered, 0);
    await batch.add(gathered.slice(), 0);
    const pieces = Array.from({ length: 100 }, (_, i) => ({ data: pseudoRandomBytes(512, i + 2), position: 4096 + i * 8192 }));
    for (const p of pieces) want.set(p.data, p.position);
    await batch.addScattered(pieces.map((p) => ({ data: p.data.slice(), position: p.position })));
    await batch.flush();
    expect(Buffer.compare(rec.file, want)).toBe(0);
    expect(rec.sizes[0]).toBe(3000); // the gathered bytes first
    expect(rec.sizes).toHaveLength(101);
    // one at a time, or many (up to 32) in flight
    if (concurrent) expect(most).toBe(32);
    else expect(most).toBe(1);
  });

  it('addScattered on a concurrent target waits for every write and reports a failure', async () => {
    let settled = 0;
    const batch = new WriteBatch(
      async (_data, position) => {
        await new Promise((r) => setTimeout(r, position === 0 ? 0 : 5));
        settled++;
        if (position === 0) throw new Error('disk full');
      },
      1 << 16,
      true,
    );
    const pieces = [0, 8192, 16384].map((position) => ({ data: new Uint8Array(512), position }));
    await expect(batch.addScattered(pieces)).rejects.toThrow('disk full');
    expect(settled).toBe(3); // none still in flight when it rejects
  });
});

describe('readChunks', () => {
  // stdin of a child is a pipe that dd fills; the child reads it with
  // readChunks, quickly or with a pause per chunk (so the socket must stop
  // with both buffers taken and resume through the spare buffer)
  it.each([0, 15])('reads a pipe to its end in full chunks through two buffers (consumer pause %i ms)', (pauseMs) => {
    const data = pseudoRandomBytes(9 * 65536 + 123, 9);
    const path = join(dir.path, `piped-${pauseMs}.bin`);
    writeFileSync(path, data);
    const script = `
      import { createHash } from 'node:crypto';
      import { readChunks } from './dist/node/fd-reader.js';
      const hash = createHash('sha256'); const lengths = []; const buffers = new Set();
      for await (const c of readChunks(0, 65536)) {
        hash.update(c); lengths.push(c.length); buffers.add(c.buffer);
        if (${pauseMs}) await new Promise((r) => setTimeout(r, ${pauseMs}));
      }
      console.log(JSON.stringify({ lengths, buffers: buffers.size, sha256: hash.digest('hex') }));`;
    const r = spawnSync('sh', ['-c', `dd if=${path} bs=4096 status=none | "${process.execPath}" --input-type=module -e "$SCRIPT"`], {
      encoding: 'utf8',
      cwd: new URL('..', import.meta.url).pathname,
      env: { ...process.env, SCRIPT: script },
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ lengths: [...Array(9).fill(65536), 123], buffers: 2, sha256: sha256(data) });
  });

  it('yields nothing for empty input and stops cleanly when abandoned', async () => {
    const empty = join(dir.path, 'empty.bin');
    writeFileSync(empty, '');
    const fd = openSync(empty, 'r');
    const chunks = [];
    for await (const c of readChunks(fd)) chunks.push(c);
    closeSync(fd);
    expect(chunks).toEqual([]);
    const big = join(dir.path, 'big.bin');
    writeFileSync(big, new Uint8Array(3 * 65536));
    const fd2 = openSync(big, 'r');
    for await (const c of readChunks(fd2, 65536)) {
      expect(c.length).toBe(65536);
      break;
    }
    closeSync(fd2);
  });

  // Standard input is a non-blocking pseudo-terminal (python3 opens it raw) holding exactly the first
  // chunk: the read ahead, started while the consumer holds that chunk, fails at once (EAGAIN). The
  // failure comes when the next chunk is asked for (the CLI reports it as read-failed); no unhandled
  // rejection brings the process down meanwhile.
  it('a read ahead that fails while the consumer holds a chunk is thrown when the next chunk is asked for, never unhandled', () => {
    const script = `
      import { readChunks } from './dist/node/fd-reader.js';
      const chunks = readChunks(0, 4096);
      const first = await chunks.next();
      console.log(JSON.stringify({ first: first.value.length }));
      await new Promise((r) => setTimeout(r, 200)); // holding the chunk while the read ahead fails
      const outcome = await chunks.next().then(() => ({ next: 'yielded' }), (e) => ({ code: e.code }));
      console.log(JSON.stringify(outcome));`;
    const python = `
import os, pty, subprocess, sys, tty
master, slave = pty.openpty()
tty.setraw(slave)
os.set_blocking(slave, False)
os.write(master, bytes(4096))
child = subprocess.run([sys.argv[1], '--input-type=module', '-e', os.environ['SCRIPT']], stdin=slave, capture_output=True)
sys.stdout.write(child.stdout.decode())
sys.stderr.write(child.stderr.decode())
sys.exit(child.returncode)`;
    const r = spawnSync('python3', ['-c', python, process.execPath], {
      encoding: 'utf8',
      cwd: new URL('..', import.meta.url).pathname,
      env: { ...process.env, SCRIPT: script },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([{ first: 4096 }, { code: 'EAGAIN' }]);
  });
});

describe('openForWriting', () => {
  it('opens a file from scratch as flag w does: a missing one created, an older one emptied (its bytes never show through holes), an empty one kept', async () => {
    const missing = join(dir.path, 'ofw-missing.bin');
    const older = join(dir.path, 'ofw-older.bin');
    writeFileSync(older, new Uint8Array(2 * MiB).fill(0xff));
    for (const path of [missing, older]) {
      const fh = await openForWriting(path);
      await fh.write(new Uint8Array([7]), 0, 1, MiB); // the bytes before it are a hole: zeros
      await fh.close();
      const back = readFileSync(path);
      expect(back.length).toBe(MiB + 1);
      expect(back.subarray(0, MiB).every((b) => b === 0)).toBe(true);
      expect(back[MiB]).toBe(7);
    }
    const prepared = await prepareOutput(join(dir.path, 'ofw-prepared.bin'));
    expect(existsSync(prepared.path)).toBe(true);
    await (await openForWriting(prepared.path)).close();
    expect(readFileSync(prepared.path).length).toBe(0);
    await prepared.discard();
  });
});

describe('chunk-driven converters (stdin paths of the CLI)', () => {
  const guids = {
    fileWrite: '11111111-2222-4333-8444-555555555555',
    dataWrite: '21111111-2222-4333-8444-555555555555',
    virtualDisk: '31111111-2222-4333-8444-555555555555',
  };

  /** Yields `data` in `size` pieces from one reused buffer, as readChunks does. */
  async function* reusedChunks(data: Uint8Array, size: number) {
    const buf = new Uint8Array(size);
    for (let at = 0; at < data.length; at += size) {
      const n = Math.min(size, data.length - at);
      buf.set(data.subarray(at, at + n));
      yield buf.subarray(0, n);
      buf.fill(0xee); // whatever still pointed at it would now see garbage
    }
  }

  it('encodeRawChunks writes exactly what VhdxEncoderStream produces', async () => {
    const raw = makeRaw(5 * MiB + 512, 'mixed', 12);
    const options = { virtualSize: raw.length, blockSize: MiB, guids };
    const want = await collect(chunkedStream(raw, [MiB]).pipeThrough(new VhdxEncoderStream(options)));
    const parts: Uint8Array[] = [];
    const progress: number[] = [];
    const n = await encodeRawChunks(
      reusedChunks(raw, 300000),
      options,
      async (d) => void parts.push(d.slice()),
      (done) => progress.push(done),
    );
    expect(n).toBe(want.length);
    expect(Buffer.compare(Buffer.concat(parts), want)).toBe(0);
    expect(progress.at(-1)).toBe(raw.length);
  });

  it('rawChunksToVhdxFile (a stdin raw input) makes a sparse disk of the input size in a prepared output, and TRUNCATED when short of virtualSize', async () => {
    const raw = makeRaw(6 * MiB + 1024, 'mixed', 13);
    const out = join(dir.path, 'chunks.vhdx');
    const prepared = await prepareOutput(out);
    const summary = await rawChunksToVhdxFile(reusedChunks(raw, 1 << 20), prepared, { blockSize: MiB });
    await prepared.commit();
    expect(summary.virtualSize).toBe(raw.length);
    const image = await openVhdx(out);
    expect(Buffer.compare(await image.read(0, raw.length), raw)).toBe(0);
    await image.close();
    const short = join(dir.path, 'short.vhdx');
    const partial = await prepareOutput(short);
    await expect(rawChunksToVhdxFile(reusedChunks(raw, 1 << 20), partial, { virtualSize: raw.length + 512 })).rejects.toMatchObject({
      code: 'TRUNCATED',
    });
    await partial.discard(); // the output's owner removes what was written
    expect(() => readFileSync(partial.path)).toThrow();
    expect(() => readFileSync(short)).toThrow();
  });
});

describe('Progress', () => {
  const MiB_ = 1024 * 1024;
  function capture() {
    const lines: string[] = [];
    return { lines, out: { write: (t: string) => lines.push(t) } };
  }

  it('draws a bar with percent and time left when the total is known, the final state always', () => {
    const { lines, out } = capture();
    const p = new Progress(out);
    p.update(4 * MiB_, 48 * MiB_);
    p.update(5 * MiB_, 48 * MiB_); // within the redraw interval: skipped
    p.update(48 * MiB_, 48 * MiB_); // final: drawn anyway
    p.done();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\r\[#{3}\.{27}\]\s+8% 4\/48 MiB \d+ MiB\/s/);
    expect(lines[1]).toMatch(/100% 48\/48 MiB/);
    expect(lines[2]).toBe('\n');
  });

  it('shows bytes and rate only when the total is unknown, and still throttles', () => {
    const { lines, out } = capture();
    const p = new Progress(out);
    for (let i = 1; i <= 50; i++) p.update(i * MiB_, 0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\r1 MiB \d+ MiB\/s\s+$/);
    expect(lines[0]).not.toMatch(/%|\/0/);
    p.done(); // the last state is drawn before the line ends
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^\r50 MiB /), '\n']);
  });
});
