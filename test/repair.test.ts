// `vhdx check -r all FILE` and `vhdx repair FILE`: a dirty log replayed onto
// the file, an active log with nothing to replay cleared, the file grown to
// LastFileOffset; a log damaged beyond what MS-VHDX recovers refused with
// nothing written. References: `qemu-img check -r all` on a copy where QEMU
// follows the spec, the entries' writes applied straight to the file (the
// spec's bytes) where it does not (a wrapping sequence, LastFileOffset past
// the end, a LogGuid naming no entry).
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as format from '../src/format/index.js';
import { applyDirectly, batSectorWith, entriesEndingAt, logRegion, makeDirty, type EntrySpec } from './helpers/dirty-log.js';
import { buildChild } from './helpers/differencing.js';
import { makeRaw } from './helpers/images.js';
import { pseudoRandomBytes } from './helpers/reference.js';
import { describeWith, run, tempDir } from './helpers/tools.js';
import { storedBlocks } from './helpers/vhdx-inspect.js';

const MiB = 1024 * 1024;
const BIN = join(import.meta.dirname, '..', 'bin', 'vhdx.js');
const HEADER_AREA = MiB; // file identifier, both headers, both region tables
const dir = tempDir('vhdx-repair-');
afterAll(() => dir.cleanup());

function vhdx(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} -> ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Every byte past the header area equal, and the same length (headers differ: new GUIDs and sequence numbers). */
function expectSameBody(got: Uint8Array, want: Uint8Array): void {
  expect(got.length).toBe(want.length);
  expect(Buffer.from(got.subarray(HEADER_AREA)).equals(Buffer.from(want.subarray(HEADER_AREA)))).toBe(true);
}

/** What `vhdx info` and `qemu-img info` say afterwards: a clean log, and `vhdx check` finds nothing. */
function expectClean(path: string): void {
  expect(JSON.parse(vhdx(['info', '--json', path]).stdout).log.state).toBe('clean');
  expect(run('qemu-img', ['info', '-f', 'vhdx', path]).status).toBe(0); // QEMU refuses a dirty file read-only
  const c = vhdx(['check', path]);
  expect(c.stdout).toBe('No problems found.\n');
  expect(c.status).toBe(0);
}

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir.path, name);
  writeFileSync(path, bytes);
  return path;
}

let clean: Uint8Array;
let entry: (seq: bigint, at: number, tail: number, writes: EntrySpec['writes'], extra?: Partial<EntrySpec>) => EntrySpec;
let allocate: { fileOffset: number; data: Uint8Array };
let overwrite: { fileOffset: number; data: Uint8Array };
let zero: { fileOffset: number; zeroLength: number };
let grown: { size: number; appended: { offset: number; data: Uint8Array }[] };
let end: number;

describeWith(['qemu-img'], 'vhdx check -r all / vhdx repair', () => {
  beforeAll(() => {
    const raw = makeRaw(8 * MiB, 'mixed', 3);
    raw.fill(0, 2 * MiB, 3 * MiB); // block 2 unallocated: an entry allocates it
    const rawPath = write('clean.raw', raw);
    const out = join(dir.path, 'clean.vhdx');
    ok('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'subformat=dynamic,block_size=1048576', rawPath, out]);
    clean = new Uint8Array(readFileSync(out));
    const table = format.parseRegionTable(clean.subarray(192 * 1024, 256 * 1024), 192 * 1024);
    const bat = table.entries.find((e) => e.guid === format.GUIDS.batRegion)!.fileOffset;
    const block0 = [...storedBlocks(clean, MiB, 512, 8).values()][0]!;
    end = Math.ceil(clean.length / MiB) * MiB;
    allocate = batSectorWith(clean, bat, format.batIndexOfBlock(2, format.chunkRatio(512, MiB)), 6, end / MiB);
    overwrite = { fileOffset: block0 + 8192, data: pseudoRandomBytes(4096, 5) };
    zero = { fileOffset: block0 + 65536, zeroLength: 3 * 4096 };
    grown = { size: end + MiB, appended: [{ offset: end, data: pseudoRandomBytes(MiB, 99) }] };
    entry = entriesEndingAt(end + MiB);
  });

  it('replays a sequence of entries as qemu-img check -r all does, one line per action; qemu-img info opens it as clean', () => {
    const three = [entry(10n, 0, 0, [overwrite]), entry(11n, 8192, 0, [allocate]), entry(12n, 16384, 0, [zero])];
    const dirty = makeDirty(clean, three, grown);
    const ours = write('three.vhdx', dirty);
    const theirs = write('three-qemu.vhdx', dirty);
    ok('qemu-img', ['check', '-q', '-r', 'all', theirs]);
    const r = vhdx(['check', '-r', 'all', ours]);
    expect(r.stdout).toBe('repaired: replayed the log onto the file (3 entries, 2 data sectors)\nNo problems found.\n');
    expect(r.status).toBe(0);
    expectSameBody(readFileSync(ours), readFileSync(theirs));
    expectSameBody(readFileSync(ours), applyDirectly(dirty, three));
    ok('qemu-img', ['compare', '-f', 'vhdx', '-F', 'vhdx', ours, theirs]);
    expectClean(ours);
  });

  it("a sequence that wraps past the end of the log: the spec's bytes (QEMU ignores Tail on a wrap)", () => {
    const logLen = logRegion(clean).length;
    const wrap = [
      entry(20n, logLen - 8192, logLen - 8192, [allocate]),
      entry(21n, 0, logLen - 8192, [overwrite]),
      entry(22n, 8192, logLen - 8192, [zero]),
    ];
    const dirty = makeDirty(clean, wrap, grown);
    const path = write('wrap.vhdx', dirty);
    const r = vhdx(['repair', path]);
    expect(r.stdout).toBe('repaired: replayed the log onto the file (3 entries, 2 data sectors)\nNo problems found.\n');
    expect(r.status).toBe(0);
    expectSameBody(readFileSync(path), applyDirectly(dirty, wrap));
    expectClean(path);
  });

  it("a sequence filling the log but one sector (qemu-img 7.2 check -r all loops forever on it): the spec's bytes", () => {
    let target = overwrite.fileOffset - 8192; // block 0's first sector
    const full = [63, 63, 63, 62].map((n, i) => {
      const writes = Array.from({ length: n }, () => {
        target += 4096;
        return { fileOffset: target - 4096, data: pseudoRandomBytes(4096, 100 + i) };
      });
      return entry(BigInt(50 + i), i * 64 * 4096, 0, writes);
    });
    expect(full.reduce((n, e) => n + 1 + e.writes.length, 0)).toBe(logRegion(clean).length / 4096 - 1);
    const dirty = makeDirty(clean, full, grown);
    const path = write('full.vhdx', dirty);
    const r = vhdx(['repair', path]);
    expect(r.stdout).toBe('repaired: replayed the log onto the file (4 entries, 251 data sectors)\nNo problems found.\n');
    expectSameBody(readFileSync(path), applyDirectly(dirty, full));
    expectClean(path);
  });

  it("grows the file to LastFileOffset (QEMU does not: the spec's bytes)", () => {
    const one = [entry(5n, 0, 0, [overwrite], { flushedFileOffset: clean.length, lastFileOffset: end + 2 * MiB })];
    const dirty = makeDirty(clean, one);
    const path = write('grow.vhdx', dirty);
    const r = vhdx(['check', '-r', 'all', path]);
    expect(r.stdout).toBe(
      `repaired: replayed the log onto the file (1 entry, 1 data sector)\nrepaired: grew the file from ${clean.length} to ${end + 2 * MiB} bytes (the log's LastFileOffset)\nNo problems found.\n`,
    );
    expectSameBody(readFileSync(path), applyDirectly(dirty, one));
    expectClean(path);
  });

  it('a torn last entry is left out, the rest replayed as qemu-img check -r all replays it', () => {
    const torn = [entry(30n, 0, 0, [allocate, overwrite]), entry(31n, 12288, 0, [zero], { torn: true })];
    const dirty = makeDirty(clean, torn, grown);
    const ours = write('torn.vhdx', dirty);
    const theirs = write('torn-qemu.vhdx', dirty);
    ok('qemu-img', ['check', '-q', '-r', 'all', theirs]);
    expect(vhdx(['repair', ours]).status).toBe(0);
    expectSameBody(readFileSync(ours), readFileSync(theirs));
    expectClean(ours);
  });

  /** A file QEMU leaves when its `pwritev` at `sector` fails once (blkdebug; vhdx-facts.md "Dirty fixtures"). */
  function qemuDirty(name: string, sector: number): string {
    const path = join(dir.path, name);
    ok('qemu-img', ['create', '-q', '-f', 'vhdx', path, String(64 * MiB)]);
    const cfg = join(dir.path, `${name}.blkdebug`);
    writeFileSync(cfg, `[inject-error]\nevent = "pwritev"\nsector = "${sector}"\nerrno = "5"\nonce = "on"\n`);
    expect(run('qemu-io', ['-c', 'write -P 0xab 0 64k', `blkdebug:${cfg}:${path}`]).status).not.toBe(0);
    return path;
  }

  it("QEMU's dirty file with one valid entry (its BAT write failed): the bytes qemu-img check -r all gives", () => {
    const ours = qemuDirty('qemu-entry.vhdx', 4096);
    const theirs = join(dir.path, 'qemu-entry-qemu.vhdx');
    copyFileSync(ours, theirs);
    expect(run('qemu-img', ['info', ours]).status).not.toBe(0);
    ok('qemu-img', ['check', '-q', '-r', 'all', theirs]);
    const r = vhdx(['check', '-r', 'all', ours]);
    expect(r.stdout).toBe('repaired: replayed the log onto the file (1 entry, 1 data sector)\nNo problems found.\n');
    expectSameBody(readFileSync(ours), readFileSync(theirs));
    expectClean(ours);
    ok('qemu-io', ['-r', '-c', 'read -P 0xab 0 64k', ours]);
  });

  it("QEMU's dirty file whose LogGuid names no entry (its log write failed): cleared, QEMU writes it again", () => {
    const ours = qemuDirty('qemu-empty.vhdx', 2048);
    const theirs = join(dir.path, 'qemu-empty-qemu.vhdx');
    copyFileSync(ours, theirs);
    ok('qemu-img', ['check', '-q', '-r', 'all', theirs]); // QEMU leaves the LogGuid set: every later write of its own fails
    const r = vhdx(['repair', ours]);
    expect(r.stdout).toBe('repaired: cleared the active log (it held nothing to replay)\nNo problems found.\n');
    expectSameBody(readFileSync(ours), readFileSync(theirs));
    expect(JSON.parse(vhdx(['info', '--json', theirs]).stdout).log.state).toBe('active-empty');
    expectClean(ours);
    ok('qemu-io', ['-c', 'write -P 0x01 0 4k', ours]);
    ok('qemu-io', ['-r', '-c', 'read -P 0x01 0 4k', ours]);
  });

  it('a dirty differencing child is repaired without its parent (the log concerns the file alone); check then reports the missing parent', () => {
    const child = buildChild({
      virtualSize: 8 * MiB,
      blockSize: MiB,
      lss: 512,
      parentLinkage: '0badc0de-0000-4000-8000-000000000001',
      relativePath: 'nowhere.vhdx',
      blocks: new Map(),
    });
    const table = format.parseRegionTable(child.subarray(192 * 1024, 256 * 1024), 192 * 1024);
    const bat = table.entries.find((e) => e.guid === format.GUIDS.batRegion)!.fileOffset;
    const zeroBlock0 = batSectorWith(child, bat, 0, 2, 0); // block 0: ZERO (reads zeros, not the parent)
    const one = [{ ...entriesEndingAt(child.length)(7n, 0, 0, [zeroBlock0]) }];
    const dirty = makeDirty(child, one);
    const path = write('child.avhdx', dirty);
    const r = vhdx(['repair', path]);
    expect(r.stdout).toMatch(/^repaired: replayed the log onto the file \(1 entry, 1 data sector\)\nlevel 0: IO parent-missing /);
    expect(r.status).toBe(3);
    expectSameBody(readFileSync(path), applyDirectly(dirty, one));
    const headers = [64 * 1024, 128 * 1024].map((at) => format.parseHeader(readFileSync(path).subarray(at, at + 4096), at));
    const current = headers[0]!.sequenceNumber > headers[1]!.sequenceNumber ? headers[0]! : headers[1]!;
    expect(current.logGuid).toBe(format.NIL_GUID);
  });

  it('a clean file is not written: "nothing to do"', () => {
    const path = write('clean-copy.vhdx', clean);
    const r = vhdx(['check', '-r', 'all', path]);
    expect(r.stdout).toBe('repaired: nothing to do (the log is clean)\nNo problems found.\n');
    expect(r.status).toBe(0);
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(clean))).toBe(true);
  });

  it('refuses, writing nothing, a dirty log whose only entry is torn (log-not-replayable, exit 1)', () => {
    const dirty = makeDirty(clean, [entry(5n, 0, 0, [overwrite], { torn: true })], grown);
    const path = write('damaged.vhdx', dirty);
    const r = vhdx(['check', '-r', 'all', path]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^vhdx: error\[CORRUPT\]: .*log-not-replayable|^vhdx: error\[CORRUPT\]: .*no valid sequence remains/);
    expect(r.stdout).toBe('');
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(dirty))).toBe(true);
  });

  it('-r takes only all: leaks (nothing to leak in a VHDX) and anything else are usage errors; repair takes a file', () => {
    const path = write('usage.vhdx', clean);
    const leaks = vhdx(['check', '-r', 'leaks', path]);
    expect(leaks.status).toBe(2);
    expect(leaks.stderr).toContain('-r leaks has nothing to repair in a VHDX');
    const other = vhdx(['check', '--repair=some', path]);
    expect(other.status).toBe(2);
    expect(other.stderr).toContain('--repair must be all, got "some"');
    expect(vhdx(['repair', '-']).status).toBe(2);
    expect(vhdx(['repair', '--json', path]).status).toBe(2);
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(clean))).toBe(true);
  });

  it('check -r all --json: the actions on stderr, one JSON report on stdout', () => {
    const dirty = makeDirty(clean, [entry(5n, 0, 0, [overwrite])], grown);
    const path = write('json.vhdx', dirty);
    const r = vhdx(['check', '-r', 'all', '--json', path]);
    expect(r.stderr).toBe('repaired: replayed the log onto the file (1 entry, 1 data sector)\n');
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true });
  });
});
