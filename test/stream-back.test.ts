// Every file this project writes decodes as a stream with the decoder's default memory bound:
// the BAT and metadata come before the first payload block (room for the BAT of a large disk
// is kept when the size is not known up front). Past that room the BAT goes last, and a
// streamed `check` that cannot hold what it would need says it could not check.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  VhdxDecoderStream,
  VhdxWriterStream,
  convertRawFileToChild,
  convertRawFileToVhdx,
  openVhdx,
  type VhdxImage,
} from '../src/node/index.js';
import { DEFAULT_MAX_BUFFER } from '../src/streams/decoder-core.js';
import { parseRegionTable } from '../src/format/region-table.js';
import { GUIDS } from '../src/format/guid.js';
import { makeRaw, chunkedStream } from './helpers/images.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { describeWith, run, sevenZipSha256, sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const REPORT_INPUT = new URL('../dist/cli/report-input.js', import.meta.url).href;
const dir = tempDir('vhdx-stream-back-');
afterAll(() => dir.cleanup());

// more stored payload than the decoder holds by default, so a BAT after it cannot be waited for
const disk = makeRaw(DEFAULT_MAX_BUFFER + 16 * MiB, 'mixed', 5);
const diskPath = join(dir.path, 'disk.raw');
writeFileSync(diskPath, disk);

/** The disk of the VHDX at `path`, decoded from a read stream of it; its SHA-256. */
async function streamedDisk(path: string, options: { parent?: VhdxImage; maxBufferBytes?: number } = {}): Promise<string> {
  const hash = createHash('sha256');
  const file = Readable.toWeb(createReadStream(path, { highWaterMark: 256 * 1024 })) as ReadableStream<Uint8Array>;
  await file.pipeThrough(new VhdxDecoderStream(options)).pipeTo(
    new WritableStream({
      write(chunk) {
        hash.update(chunk);
      },
    }),
  );
  return hash.digest('hex');
}

/** Where the BAT region of the VHDX at `path` starts. */
function batOffset(path: string): number {
  const table = parseRegionTable(readFileSync(path).subarray(192 * 1024, 256 * 1024), 192 * 1024);
  return table.entries.find((e) => e.guid === GUIDS.batRegion)!.fileOffset;
}

function vhdx(args: string[], input?: Uint8Array) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 256 * MiB, cwd: dir.path });
  return { status: r.status, stdout: r.stdout, stderr: String(r.stderr) };
}

describe('every writer route makes a file that decodes as a stream with default options', () => {
  const want = sha256(disk);

  it('VhdxWriterStream with virtualSize', async () => {
    const path = join(dir.path, 'sized.vhdx');
    await chunkedStream(disk, [MiB + 7]).pipeTo(new VhdxWriterStream(path, { virtualSize: disk.length }));
    expect(await streamedDisk(path)).toBe(want);
  });

  it('VhdxWriterStream without virtualSize: the BAT has room before the payload', async () => {
    const path = join(dir.path, 'unsized.vhdx');
    await chunkedStream(disk, [64 * 1024]).pipeTo(new VhdxWriterStream(path));
    expect(batOffset(path)).toBeLessThan(4 * MiB);
    expect(await streamedDisk(path)).toBe(want);
  });

  it('convertRawFileToVhdx', async () => {
    const path = join(dir.path, 'file.vhdx');
    await convertRawFileToVhdx(diskPath, path);
    expect(await streamedDisk(path)).toBe(want);
  });

  it('the CLI from stdin (size unknown), and `check -` on it', async () => {
    const path = join(dir.path, 'stdin.vhdx');
    const r = vhdx(['convert', '-', path], disk);
    expect(r.status, r.stderr).toBe(0);
    expect(await streamedDisk(path)).toBe(want);
    const checked = vhdx(['check', '-'], readFileSync(path));
    expect(checked.stderr).toBe('');
    expect(checked.status).toBe(0);
  });

  it('the child writer (convertRawFileToChild), decoded over its parent', async () => {
    const parentPath = join(dir.path, 'parent.vhdx');
    await convertRawFileToVhdx(diskPath, parentPath);
    const changed = disk.slice();
    for (let at = 0; at < changed.length; at += MiB) changed[at] = changed[at]! ^ 0xff; // every block differs
    const changedPath = join(dir.path, 'changed.raw');
    writeFileSync(changedPath, changed);
    const childPath = join(dir.path, 'child.avhdx');
    await convertRawFileToChild(changedPath, childPath, parentPath);
    const parent = await openVhdx(parentPath);
    try {
      expect(await streamedDisk(childPath, { parent })).toBe(sha256(changed));
    } finally {
      await parent.close();
    }
  });
});

describeWith(['qemu-img', '7zz'], 'past the BAT room kept up front, the BAT goes after the payload', () => {
  it('a disk larger than batReserve: readers agree, streaming needs a larger bound', async () => {
    const dense = makeRaw(disk.length, 'data', 6); // every block stored
    const path = join(dir.path, 'past-reserve.vhdx');
    const sink = new VhdxWriterStream(path, { blockSize: MiB, batReserve: 16 * MiB });
    await chunkedStream(dense, [MiB]).pipeTo(sink);
    const { fileSize } = await sink.result;
    expect(batOffset(path)).toBe(fileSize - MiB); // the last MiB of the file
    expect(run('qemu-img', ['check', '-f', 'vhdx', path]).status).toBe(0);
    expect(run('7zz', ['t', path]).status).toBe(0);
    expect(sevenZipSha256(path).sha256).toBe(sha256(dense));
    await expect(streamedDisk(path)).rejects.toMatchObject({ reason: 'reorder-buffer-full' });
    expect(await streamedDisk(path, { maxBufferBytes: 2 * dense.length })).toBe(sha256(dense));
  });

  it('files written with the BAT room pass qemu-img check and 7zz t', async () => {
    const path = join(dir.path, 'unsized-interop.vhdx');
    await chunkedStream(disk, [MiB]).pipeTo(new VhdxWriterStream(path));
    expect(run('qemu-img', ['check', '-f', 'vhdx', path]).status).toBe(0);
    expect(run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', path, diskPath]).status).toBe(0);
    expect(run('7zz', ['t', path]).status).toBe(0);
    expect(sevenZipSha256(path).sha256).toBe(sha256(disk));
  });
});

describe('a streamed check that cannot finish', () => {
  it('says it could not check (exit 4, reason check-incomplete), never that it found a problem', () => {
    const reversed = join(dir.path, 'reversed.vhdx');
    writeFileSync(reversed, buildSynthetic({ raw: makeRaw(disk.length, 'data', 8), order: 'reverse' }));
    const r = vhdx(['check', '-'], readFileSync(reversed));
    expect(r.status).toBe(4);
    expect(r.stdout.toString()).not.toMatch(/problem/);
    expect(r.stderr).toMatch(/could not check standard input/);
    expect(r.stderr).toMatch(/give the file by its path/);
    const json = vhdx(['check', '-', '--json'], readFileSync(reversed));
    expect(json.status).toBe(4);
    expect(json.stdout.toString()).toBe('');
    // the reason the command line's report input gives, read from a pipe as the command reads it
    const script = `import { openForReport } from ${JSON.stringify(REPORT_INPUT)};
      openForReport('-').then(() => console.log('{}'), (e) => console.log(JSON.stringify({ reason: e.reason, code: e.code })));`;
    const probe = spawnSync(process.execPath, ['--input-type=module', '-e', script], { input: readFileSync(reversed), maxBuffer: MiB });
    expect(JSON.parse(String(probe.stdout))).toMatchObject({ reason: 'check-incomplete', code: 'IO' });
    // by path it is read at random and found valid
    expect(vhdx(['check', reversed]).status).toBe(0);
  });
});
