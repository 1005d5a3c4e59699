// Dirty logs: replayed in memory, streaming and random access alike, never
// written back. Where the sequence does not wrap, qemu-img check -r all on a
// copy is the reference; otherwise the writes applied straight to the file.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VhdxDecoderStream, type VhdxError, checkVhdx, openVhdx } from '../src/node/index.js';
import * as format from '../src/format/index.js';
import { chunkedStream, collect, makeRaw } from './helpers/images.js';
import { applyDirectly, batSectorWith, entriesEndingAt, makeDirty, logRegion, type EntrySpec } from './helpers/dirty-log.js';
import { pseudoRandomBytes } from './helpers/reference.js';
import { describeWith, hasTool, IN_CI, run, sha256, tempDir } from './helpers/tools.js';
import { storedBlocks } from './helpers/vhdx-inspect.js';

const MiB = 1024 * 1024;
const dir = tempDir('vhdx-log-');
afterAll(() => dir.cleanup());

async function decodeBoth(
  file: Uint8Array,
): Promise<{ streamed: Uint8Array; random: Uint8Array; info: import('../src/index.js').VhdxInfo }> {
  const streamed = await collect(chunkedStream(file, [MiB, 7777]).pipeThrough(new VhdxDecoderStream()));
  const image = await openVhdx(file);
  const random = await image.read(0, image.info.virtualSize);
  return { streamed, random, info: image.info };
}

/** A clean image with 1 MiB blocks: the encoder's, or qemu-img's when present. */
async function cleanImage(): Promise<Uint8Array> {
  const raw = makeRaw(8 * MiB, 'mixed', 3);
  // blocks 2 and 6 are all zero, so there is something to allocate
  raw.fill(0, 2 * MiB, 3 * MiB);
  raw.fill(0, 6 * MiB, 7 * MiB);
  const rawPath = join(dir.path, 'clean.raw');
  writeFileSync(rawPath, raw);
  const out = join(dir.path, 'clean.vhdx');
  if (hasTool('qemu-img')) {
    const r = run('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'vhdx',
      '-o',
      'subformat=dynamic,block_size=1048576,log_size=1048576',
      rawPath,
      out,
    ]);
    if (r.status !== 0) throw new Error(r.stderr);
    return new Uint8Array(readFileSync(out));
  }
  if (IN_CI) throw new Error('qemu-img missing under CI');
  const { VhdxEncoderStream, scanAllocation } = await import('../src/index.js');
  const map = await scanAllocation(raw, { blockSize: MiB });
  return collect(chunkedStream(raw).pipeThrough(new VhdxEncoderStream({ allocationMap: map })));
}

interface Scenario {
  name: string;
  entries: EntrySpec[];
  active: EntrySpec[];
  wraps: boolean;
  size?: number;
  appended?: { offset: number; data: Uint8Array }[];
}

let clean: Uint8Array;
let scenarios: Scenario[] = [];

beforeAll(async () => {
  clean = await cleanImage();
  const table = format.parseRegionTable(clean.subarray(192 * 1024, 256 * 1024), 192 * 1024);
  const bat = table.entries.find((e) => e.guid === format.GUIDS.batRegion)!.fileOffset;
  const stored = storedBlocks(clean, MiB, 512, 8);
  const dataBlock = [...stored.entries()][0]!; // [block, fileOffset]
  const ratio = format.chunkRatio(512, MiB);
  const end = Math.ceil(clean.length / MiB) * MiB;
  const newBlock = pseudoRandomBytes(MiB, 99);
  const allocate = batSectorWith(clean, bat, format.batIndexOfBlock(2, ratio), 6, end / MiB);
  const overwrite = { fileOffset: dataBlock[1] + 8192, data: pseudoRandomBytes(4096, 5) };
  const zero = { fileOffset: dataBlock[1] + 65536, zeroLength: 3 * 4096 };
  const grown = { size: end + MiB, appended: [{ offset: end, data: newBlock }] };
  const e = entriesEndingAt(end + MiB);
  const one = e(5n, 0, 0, [allocate, overwrite, zero]);
  const three = [e(10n, 0, 0, [overwrite]), e(11n, 8192, 0, [allocate]), e(12n, 16384, 0, [zero])];
  const logLen = logRegion(clean).length;
  // 8 KiB entries ending exactly at the log's end, then continuing at 0
  const wrapA = e(20n, logLen - 8192, logLen - 8192, [allocate]);
  const wrapB = e(21n, 0, logLen - 8192, [overwrite]);
  const wrapC = e(22n, 8192, logLen - 8192, [zero]);
  const older = [
    e(3n, 512 * 1024, 512 * 1024, [{ fileOffset: dataBlock[1], data: new Uint8Array(4096).fill(0xee) }]),
    e(4n, 520 * 1024, 512 * 1024, [{ fileOffset: dataBlock[1] + 4096, zeroLength: 4096 }]),
  ];
  const torn = [e(30n, 0, 0, [allocate, overwrite]), e(31n, 12288, 0, [zero], { torn: true })];
  // what an earlier session of the log left: valid entries under another LogGuid, even a higher sequence number
  const earlierGuid = '0badc0de-1234-4abc-8def-0123456789ab';
  const earlier = [
    e(40n, 256 * 1024, 256 * 1024, [overwrite], { logGuid: earlierGuid }),
    e(41n, 264 * 1024, 256 * 1024, [zero], { logGuid: earlierGuid }),
  ];
  scenarios = [
    {
      name: 'one entry: BAT update for a new block, payload overwrite, zero descriptor',
      entries: [one],
      active: [one],
      wraps: false,
      ...grown,
    },
    { name: 'a sequence of three entries', entries: three, active: three, wraps: false, ...grown },
    { name: 'an older sequence left in the log', entries: [...older, one], active: [one], wraps: false, ...grown },
    { name: 'a torn last entry (bad checksum) is not replayed', entries: torn, active: [torn[0]!], wraps: false, ...grown },
    {
      name: 'entries of an earlier log (another LogGuid) are left alone',
      entries: [...earlier, one],
      active: [one],
      wraps: false,
      ...grown,
    },
    {
      name: 'a sequence that wraps past the end of the log',
      entries: [wrapA, wrapB, wrapC],
      active: [wrapA, wrapB, wrapC],
      wraps: true,
      ...grown,
    },
  ];
});

describe('dirty logs', () => {
  it('replays every scenario the same way through the stream and openVhdx, and never writes the input', async () => {
    for (const s of scenarios) {
      const dirty = makeDirty(clean, s.entries, s);
      const before = sha256(dirty);
      const want = await (await openVhdx(applyDirectly(dirty, s.active))).read(0, 8 * MiB);
      const { streamed, random, info } = await decodeBoth(dirty);
      expect(sha256(dirty), s.name).toBe(before);
      expect(info.log.state, s.name).toBe('dirty');
      expect(info.log.entriesReplayed, s.name).toBe(s.active.length);
      expect(sha256(random), s.name).toBe(sha256(want));
      expect(sha256(streamed), s.name).toBe(sha256(want));
      // the log's changes are visible: the clean image reads differently
      expect(sha256(random), s.name).not.toBe(sha256(await (await openVhdx(clean)).read(0, 8 * MiB)));
    }
  });

  it('the Node file path and the CLI replay the log too', async () => {
    const { convertVhdxFileToRaw } = await import('../src/node/index.js');
    const s = scenarios[0]!;
    const dirty = makeDirty(clean, s.entries, s);
    const path = join(dir.path, 'dirty-file.vhdx');
    writeFileSync(path, dirty);
    const want = sha256((await decodeBoth(dirty)).random);
    const out = join(dir.path, 'dirty-file.raw');
    await convertVhdxFileToRaw(path, out);
    expect(sha256(readFileSync(out))).toBe(want);
    const cli = run(process.execPath, [new URL('../bin/vhdx.js', import.meta.url).pathname, 'convert', path, `${out}2`, '-O', 'raw']);
    expect(cli.status, cli.stderr).toBe(0);
    expect(sha256(readFileSync(`${out}2`))).toBe(want);
    expect(sha256(readFileSync(path))).toBe(sha256(dirty));
  });

  it('check() finds nothing wrong with entries an earlier log left behind (MS-VHDX 2.3.2: the LogGuid keeps them out)', async () => {
    const s = scenarios.find((x) => x.name.startsWith('entries of an earlier log'))!;
    const report = await checkVhdx(makeDirty(clean, s.entries, s));
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.info?.log).toMatchObject({ state: 'dirty', entriesReplayed: 1 });
  });

  it('check() reports the torn entry it skipped', async () => {
    const s = scenarios.find((x) => x.name.startsWith('a torn'))!;
    const report = await checkVhdx(makeDirty(clean, s.entries, s));
    expect(report.problems.some((p) => p.structure === 'log entry' && p.reason === 'log-entry-skipped')).toBe(true);
  });

  it('is CORRUPT when the file is shorter than flushed_file_offset', async () => {
    const s = scenarios[0]!;
    const dirty = makeDirty(clean, s.entries, s).subarray(0, clean.length); // the new block's data never arrived
    expect(await openVhdx(dirty).catch((e: VhdxError) => e.code)).toBe('CORRUPT');
    expect(await collect(chunkedStream(dirty).pipeThrough(new VhdxDecoderStream())).catch((e: VhdxError) => e.code)).toBe('CORRUPT');
  });

  it('is CORRUPT when a descriptor targets the header section or the log', async () => {
    for (const fileOffset of [64 * 1024, logRegion(clean).offset + 4096]) {
      const entry: EntrySpec = {
        sequenceNumber: 9n,
        at: 0,
        tail: 0,
        writes: [{ fileOffset, data: new Uint8Array(4096) }],
        flushedFileOffset: clean.length,
        lastFileOffset: clean.length,
      };
      expect(await openVhdx(makeDirty(clean, [entry])).catch((e: VhdxError) => e.code)).toBe('CORRUPT');
    }
  });

  it('reads zeros up to last_file_offset past the end of the input', async () => {
    const end = Math.ceil(clean.length / MiB) * MiB;
    const table = format.parseRegionTable(clean.subarray(192 * 1024, 256 * 1024), 192 * 1024);
    const bat = table.entries.find((e) => e.guid === format.GUIDS.batRegion)!.fileOffset;
    const allocate = batSectorWith(clean, bat, format.batIndexOfBlock(6, format.chunkRatio(512, MiB)), 6, end / MiB);
    const entry: EntrySpec = {
      sequenceNumber: 2n,
      at: 0,
      tail: 0,
      writes: [allocate],
      flushedFileOffset: clean.length,
      lastFileOffset: end + MiB,
    };
    const dirty = makeDirty(clean, [entry]);
    const { streamed, random } = await decodeBoth(dirty);
    expect(sha256(streamed)).toBe(sha256(random));
    expect(random.subarray(6 * MiB, 7 * MiB).every((b) => b === 0)).toBe(true);
  });

  it('a log over maxLogBytes fails before it is read', async () => {
    const s = scenarios[0]!;
    expect(await openVhdx(makeDirty(clean, s.entries, s), { maxLogBytes: 4096 }).catch((e: VhdxError) => e.code)).toBe('LIMIT_EXCEEDED');
  });
});

describeWith(['qemu-img'], 'dirty logs against qemu-img check -r all', () => {
  it('agrees with qemu-img wherever the sequence does not wrap', async () => {
    for (const s of scenarios.filter((x) => !x.wraps)) {
      const dirty = makeDirty(clean, s.entries, s);
      const path = join(dir.path, 'dirty.vhdx');
      writeFileSync(path, dirty);
      const copy = join(dir.path, 'repaired.vhdx');
      copyFileSync(path, copy);
      const fix = run('qemu-img', ['check', '-r', 'all', '-f', 'vhdx', copy]);
      expect(fix.status, `${s.name}: ${fix.stdout}${fix.stderr}`).toBe(0);
      const out = join(dir.path, 'repaired.raw');
      const conv = run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', copy, out]);
      expect(conv.status, conv.stderr).toBe(0);
      const { random } = await decodeBoth(dirty);
      expect(sha256(random), s.name).toBe(sha256(readFileSync(out)));
      expect(sha256(readFileSync(path)), 'the input is untouched').toBe(sha256(dirty));
    }
  });
});

/** Runs the `vhdx` command; stdout as text. */
function vhdxCli(args: string[]): { status: number | null; text: string; stderr: string } {
  const r = spawnSync(process.execPath, [new URL('../bin/vhdx.js', import.meta.url).pathname, ...args], { cwd: dir.path });
  return { status: r.status, text: String(r.stdout), stderr: String(r.stderr) };
}

/** What `vhdx check` and `vhdx info` say of a file whose header names an active log with nothing in it. */
function expectActiveEmptyReports(path: string): void {
  const check = vhdxCli(['check', path]);
  expect(check.status, check.text + check.stderr).toBe(0);
  expect(check.text).toMatch(/^warning: CORRUPT log-active-empty log at offset \d+ \(0x[0-9a-f]+\): .*\nNo problems found\.\n$/);
  const json = JSON.parse(vhdxCli(['check', path, '--json']).text);
  expect(json.ok).toBe(true);
  expect(json.problems).toEqual([expect.objectContaining({ reason: 'log-active-empty', severity: 'warning' })]);
  const info = vhdxCli(['info', path]);
  expect(info.status).toBe(0);
  expect(info.text).toMatch(/\nlog: +active, nothing to replay\n/);
  expect(JSON.parse(vhdxCli(['info', path, '--json']).text).log.state).toBe('active-empty');
}

describe('a header naming an active log that holds no entry of it (a writer stopped before its log write landed)', () => {
  it('is a warning (check exits 0), info says "active, nothing to replay", and it reads as the file stands', async () => {
    const clean = await cleanImage();
    const file = makeDirty(clean, []);
    const path = join(dir.path, 'active-empty.vhdx');
    writeFileSync(path, file);
    expectActiveEmptyReports(path);
    const { streamed, random, info } = await decodeBoth(file);
    expect(info.log.state).toBe('active-empty');
    const want = (await decodeBoth(clean)).random;
    expect(sha256(streamed)).toBe(sha256(want));
    expect(sha256(random)).toBe(sha256(want));
  });
});

describeWith(['qemu-img'], 'an active empty log left by qemu-io (its log write failed)', () => {
  it('checks with a warning only, and reads as qemu-img reads it', () => {
    const path = join(dir.path, 'qemu-stopped.vhdx');
    expect(run('qemu-img', ['create', '-f', 'vhdx', path, '16M']).status).toBe(0);
    // the log sits at 1 MiB: sector 2048 is the log write, which fails once
    const cfg = join(dir.path, 'blkdebug-log.cfg');
    writeFileSync(cfg, '[inject-error]\nevent = "pwritev"\nsector = "2048"\nerrno = "5"\nonce = "on"\n');
    run('qemu-io', ['-c', 'write -P 0xab 0 64k', `blkdebug:${cfg}:${path}`]);
    const header = format.parseHeader(readFileSync(path).subarray(128 * 1024, 132 * 1024), 128 * 1024);
    const other = format.parseHeader(readFileSync(path).subarray(64 * 1024, 68 * 1024), 64 * 1024);
    const current = header.sequenceNumber > other.sequenceNumber ? header : other;
    expect(current.logGuid).not.toBe(format.NIL_GUID);
    expect(run('qemu-img', ['check', path]).status).toBe(0);
    expectActiveEmptyReports(path);
    const ours = join(dir.path, 'qemu-stopped.raw');
    expect(vhdxCli(['convert', path, ours]).status).toBe(0);
    expect(run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', path, ours]).status).toBe(0);
  });
});
