// The command line on differencing chains (issue 14, item 3, reading):
// `info` shows every level, `check` checks every level and the links,
// `convert` flattens, `--parent` and `--ignore-linkage` steer the lookup, and
// the errors map to the exit-code table. Chains are hand-built
// (test/helpers/differencing.ts) and written to a temporary folder with each
// parent where its child's relative_path says.
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as node from '../src/node/index.js';
import { VhdxEncoderStream } from '../src/index.js';
import { firstDifference } from './helpers/bytes.js';
import { buildChild, dataWriteGuidOf, everyState, flattenChain, testGuid, type ChildSpec } from './helpers/differencing.js';
import { chunkedStream, collect, makeRaw } from './helpers/images.js';
import { describeWith, sevenZipSha256, sha256, tempDir } from './helpers/tools.js';
import { oneLine } from './helpers/cli-lines.js';
import { runAsync, serveFiles } from './helpers/file-server.js';

const MiB = 1024 * 1024;
const SIZE = 12 * MiB + 64 * 1024; // every level ends in a partial block
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const dir = tempDir('vhdx-chain-cli-');
afterAll(() => dir.cleanup());

function vhdx(args: string[], input?: Uint8Array) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 256 * MiB, cwd: dir.path, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout as Buffer, text: String(r.stdout), stderr: String(r.stderr) };
}

const at = (...parts: string[]) => join(dir.path, ...parts);
const disk = makeRaw(SIZE, 'mixed', 31);
const specs: ChildSpec[] = [];
let base: Uint8Array;
let want: Uint8Array;

function child(
  parent: Uint8Array,
  blockSize: number,
  relativePath: string,
  seed: number,
  linkage?: string,
): { spec: ChildSpec; file: Uint8Array } {
  const spec: ChildSpec = {
    virtualSize: SIZE,
    blockSize,
    lss: 512,
    parentLinkage: linkage ?? dataWriteGuidOf(parent),
    relativePath,
    // without UNDEFINED and UNMAPPED blocks 7-Zip reads the chain as the spec does
    blocks: everyState(SIZE, blockSize, 512, seed, ['undefined', 'unmapped'], seed),
  };
  return { spec, file: buildChild(spec) };
}

beforeAll(async () => {
  const encoder = new VhdxEncoderStream({ virtualSize: SIZE, blockSize: MiB, logicalSectorSize: 512 });
  base = await collect(chunkedStream(disk).pipeThrough(encoder));
  mkdirSync(at('snap'), { recursive: true });
  writeFileSync(at('base.vhdx'), base);
  // base.vhdx <- snap/c1.avhdx <- snap/c2.avhdx, block sizes 1M, 2M, 4M
  const c1 = child(base, 2 * MiB, '..\\base.vhdx', 1);
  const c2 = child(c1.file, 4 * MiB, 'c1.avhdx', 2);
  writeFileSync(at('snap', 'c1.avhdx'), c1.file);
  writeFileSync(at('snap', 'c2.avhdx'), c2.file);
  specs.push(c1.spec, c2.spec);
  want = flattenChain(disk, specs);
  // a child whose parent is nowhere its locator says
  writeFileSync(at('snap', 'orphan.avhdx'), child(base, 2 * MiB, '..\\gone\\base.vhdx', 3).file);
  // a child of base.vhdx whose parent_linkage names another DataWriteGuid (the parent was opened read-write since)
  const stale = child(base, 2 * MiB, '..\\base.vhdx', 4, testGuid());
  writeFileSync(at('snap', 'stale.avhdx'), stale.file);
});

describe('vhdx info on a chain', () => {
  it('lists every level, child first: path, type, block size, allocated bytes, linkage ok; --json gives the array `chain`', async () => {
    const r = vhdx(['info', at('snap', 'c2.avhdx')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.text.split('\n');
    const chainAt = lines.indexOf('chain (0 is this file):');
    expect(chainAt).toBeGreaterThan(0);
    expect(lines[chainAt + 1]).toMatch(/^ {2}0 {2}.*c2\.avhdx: differencing, block size 4\.00 MiB, .* allocated \(\d+ bytes\), parent ok$/);
    expect(lines[chainAt + 2]).toMatch(/^ {2}1 {2}.*c1\.avhdx: differencing, block size 2\.00 MiB, .*parent ok$/);
    expect(lines[chainAt + 3]).toMatch(/^ {2}2 {2}.*base\.vhdx: dynamic, block size 1\.00 MiB, .*parent none$/);
    expect(r.text).toMatch(/^ {2}relative_path = c1\.avhdx$/m);

    const json = JSON.parse(vhdx(['info', at('snap', 'c2.avhdx'), '--json']).text);
    const image = await node.openVhdx(at('snap', 'c2.avhdx'));
    try {
      expect(json.chain).toHaveLength(3);
      expect(json.chain.map((l: { linkage: string }) => l.linkage)).toEqual(['ok', 'ok', 'none']);
      expect(json.chain.map((l: { blockSize: number }) => l.blockSize)).toEqual([4 * MiB, 2 * MiB, MiB]);
      json.chain.forEach((l: Record<string, unknown>, i: number) => {
        const level = image.info.chain[i]!;
        expect(l).toEqual({
          level: i,
          path: level.location,
          type: level.type,
          blockSize: level.blockSize,
          allocatedBytes: level.allocatedBytes,
          dataWriteGuid: level.dataWriteGuid,
          linkage: level.parentLinkage,
        });
      });
      expect(String(json.chain[2].path)).toMatch(/base\.vhdx$/);
    } finally {
      await image.close();
    }
  });

  it('a file without a parent: a one-level chain in JSON, no chain lines', () => {
    const json = JSON.parse(vhdx(['info', at('base.vhdx'), '--json']).text);
    expect(json.chain).toEqual([expect.objectContaining({ level: 0, type: 'dynamic', linkage: 'none' })]);
    expect(vhdx(['info', at('base.vhdx')]).text).not.toContain('chain (0 is this file)');
  });

  it('a child whose parent cannot be found still shows, its linkage `missing` (exit 0)', () => {
    const r = vhdx(['info', at('snap', 'orphan.avhdx')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.text).toMatch(/^ {2}0 {2}.*orphan\.avhdx: differencing, .*parent missing$/m);
    expect(r.text).toMatch(/^ {2}1 {2}\(parent not found\)$/m);
    const json = JSON.parse(vhdx(['info', at('snap', 'orphan.avhdx'), '--json']).text);
    expect(json.chain).toEqual([expect.objectContaining({ level: 0, linkage: 'missing' })]);
    expect(json.parentLocator.relative_path).toBe('..\\gone\\base.vhdx');
  });

  it('streamed (a pipe on stdin): one usage line saying the chain cannot be followed from a stream; check likewise', () => {
    const child = readFileSync(at('snap', 'c1.avhdx'));
    for (const command of ['info', 'check']) {
      const r = vhdx([command, '-'], child);
      expect(r.status, command).toBe(2);
      const message = oneLine(r.stderr, 'USAGE');
      expect(message).toContain('differencing VHDX');
      expect(message).toContain('cannot be followed from a stream');
    }
    // a file without a parent still streams
    expect(vhdx(['info', '-'], base).status).toBe(0);
  });

  it('--parent names the first parent; its own parents are found by its locator', () => {
    const r = vhdx(['info', at('snap', 'orphan.avhdx'), '--parent', at('base.vhdx'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(r.text);
    expect(json.chain.map((l: { linkage: string }) => l.linkage)).toEqual(['ok', 'none']);
    expect(json.chain[1].path).toBe(at('base.vhdx'));
  });
});

describe('vhdx check on a chain', () => {
  it('a sound chain: no problems, exit 0 (human and JSON)', () => {
    const r = vhdx(['check', at('snap', 'c2.avhdx')]);
    expect([r.status, r.text, r.stderr]).toEqual([0, 'No problems found.\n', '']);
    expect(JSON.parse(vhdx(['check', at('snap', 'c2.avhdx'), '--json']).text)).toMatchObject({ ok: true, problems: [] });
  });

  it('a missing parent is a problem of level 0 (exit 3), naming the path tried', () => {
    const r = vhdx(['check', at('snap', 'orphan.avhdx')]);
    expect(r.status).toBe(3);
    expect(r.text).toMatch(/^level 0: IO parent-missing .*gone[\\/]base\.vhdx/m);
    const json = JSON.parse(vhdx(['check', at('snap', 'orphan.avhdx'), '--json']).text);
    expect(json.ok).toBe(false);
    expect(json.problems).toEqual([expect.objectContaining({ level: 0, reason: 'parent-missing', code: 'IO' })]);
  });

  it('damage in a parent is reported with its level', () => {
    // c1 with its older header copy damaged: still readable through the other, but a problem
    mkdirSync(at('cut', 'snap'), { recursive: true });
    writeFileSync(at('cut', 'base.vhdx'), base);
    const c1 = readFileSync(at('snap', 'c1.avhdx'));
    c1[64 * 1024 + 100]! ^= 0xff;
    writeFileSync(at('cut', 'snap', 'c1.avhdx'), c1);
    writeFileSync(at('cut', 'snap', 'c2.avhdx'), readFileSync(at('snap', 'c2.avhdx')));
    const r = vhdx(['check', at('cut', 'snap', 'c2.avhdx'), '--json']);
    expect(r.status, r.stderr).toBe(3);
    const json = JSON.parse(r.text);
    expect(json.problems.length).toBeGreaterThan(0);
    for (const p of json.problems) expect(p.level).toBe(1);
    const human = vhdx(['check', at('cut', 'snap', 'c2.avhdx')])
      .text.trimEnd()
      .split('\n');
    for (const line of human.slice(0, -1)) expect(line).toMatch(/^level 1: /);
  });

  it('a file without a parent: problem lines and JSON as before, no level', () => {
    const cut = at('cut-base.vhdx');
    writeFileSync(cut, base.subarray(0, base.length - MiB));
    const json = JSON.parse(vhdx(['check', cut, '--json']).text);
    expect(json.ok).toBe(false);
    for (const p of json.problems) expect(p).not.toHaveProperty('level');
    expect(vhdx(['check', cut]).text).not.toContain('level');
  });
});

describe('vhdx convert flattens a chain', () => {
  it('to raw: byte-identical to the merged disk', () => {
    const r = vhdx(['convert', at('snap', 'c2.avhdx'), at('flat.raw')]);
    expect(r.status, r.stderr).toBe(0);
    expect(firstDifference(readFileSync(at('flat.raw')), want)).toBe(-1);
  });

  it('to stdout (raw, and VHDX read back)', async () => {
    const raw = vhdx(['convert', at('snap', 'c2.avhdx'), '-O', 'raw', '-']);
    expect(raw.status, raw.stderr).toBe(0);
    expect(firstDifference(raw.stdout, want)).toBe(-1);
    const v = vhdx(['convert', at('snap', 'c2.avhdx'), '-O', 'vhdx', '-']);
    expect(v.status, v.stderr).toBe(0);
    const image = await node.openVhdx(new Uint8Array(v.stdout));
    try {
      expect(image.info.chain).toHaveLength(1);
      expect(firstDifference(await image.read(0, SIZE), want)).toBe(-1);
    } finally {
      await image.close();
    }
  });

  it.each(['dynamic', 'fixed'])('to a %s VHDX without a parent, reading as the merged disk', async (type) => {
    const out = at(`flat-${type}.vhdx`);
    const r = vhdx(['convert', at('snap', 'c2.avhdx'), out, '--type', type]);
    expect(r.status, r.stderr).toBe(0);
    const image = await node.openVhdx(out);
    try {
      expect(image.info.type).toBe(type);
      expect(image.info.parentLocator).toBeUndefined();
      expect(image.info.chain).toHaveLength(1);
      expect(image.info.blockSize).toBe(4 * MiB); // the top level's, as for any VHDX -> VHDX
      expect(firstDifference(await image.read(0, SIZE), want)).toBe(-1);
    } finally {
      await image.close();
    }
  });

  it('a child streamed on stdin flattens with --parent (raw and VHDX); without it: exit 4 naming --parent', async () => {
    const c2 = readFileSync(at('snap', 'c2.avhdx'));
    const raw = vhdx(['convert', '-', '-O', 'raw', '-', '--parent', at('snap', 'c1.avhdx')], c2);
    expect(raw.status, raw.stderr).toBe(0);
    expect(firstDifference(raw.stdout, want)).toBe(-1);
    const v = vhdx(['convert', '-', at('streamed.vhdx'), '--parent', at('snap', 'c1.avhdx')], c2);
    expect(v.status, v.stderr).toBe(0);
    const image = await node.openVhdx(at('streamed.vhdx'));
    expect(firstDifference(await image.read(0, SIZE), want)).toBe(-1);
    await image.close();
    const without = vhdx(['convert', '-', '-O', 'raw', '-'], c2);
    expect(without.status).toBe(4);
    expect(oneLine(without.stderr, 'IO')).toContain('--parent PATH');
  });

  it('refuses an output that is a parent of the input (exit 2), leaving the chain as it was', () => {
    const before = sha256(readFileSync(at('base.vhdx')));
    for (const [out, level] of [
      [at('base.vhdx'), 2],
      [at('snap', 'c1.avhdx'), 1],
    ] as const) {
      // named .vhdx/.avhdx, the output is a VHDX (a raw output named so is a usage error before this)
      const r = vhdx(['convert', at('snap', 'c2.avhdx'), out]);
      expect(r.status, out).toBe(2);
      expect(oneLine(r.stderr, 'USAGE')).toMatch(new RegExp(`is a parent of the input \\(level ${level}\\), .*write elsewhere$`));
    }
    expect(sha256(readFileSync(at('base.vhdx')))).toBe(before);
    expect(vhdx(['check', at('snap', 'c2.avhdx')]).status).toBe(0);
  });

  it('a streamed child (stdin, URL) with --parent: an output that is the --parent file or one of its parents is refused, by any name', async () => {
    const before = { base: sha256(readFileSync(at('base.vhdx'))), c1: sha256(readFileSync(at('snap', 'c1.avhdx'))) };
    const c2 = readFileSync(at('snap', 'c2.avhdx'));
    linkSync(at('base.vhdx'), at('base-link.vhdx'));
    const says = (level: number) => new RegExp(`is a parent of the input \\(level ${level}\\), .*write elsewhere$`);
    for (const [out, level] of [
      [at('snap', 'c1.avhdx'), 1],
      [at('base.vhdx'), 2],
      [at('base-link.vhdx'), 2], // a second name: written in place, it would have been emptied while read
    ] as const) {
      const r = vhdx(['convert', '-', out, '-O', 'vhdx', '--parent', at('snap', 'c1.avhdx')], c2);
      expect(r.status, out).toBe(2);
      expect(oneLine(r.stderr, 'USAGE')).toMatch(says(level));
    }
    const server = await serveFiles(new Map([['/c2.avhdx', c2]]));
    try {
      const r = await runAsync(
        BIN,
        ['convert', `${server.base}/c2.avhdx`, at('snap', 'c1.avhdx'), '--parent', at('snap', 'c1.avhdx')],
        dir.path,
      );
      expect(r.status).toBe(2);
      expect(oneLine(r.stderr, 'USAGE')).toMatch(says(1));
    } finally {
      await server.close();
    }
    expect({ base: sha256(readFileSync(at('base.vhdx'))), c1: sha256(readFileSync(at('snap', 'c1.avhdx'))) }).toEqual(before);
  });

  it('a missing parent: exit 4, one line naming the path tried, no output left', () => {
    for (const out of ['orphan.raw', 'orphan.vhdx']) {
      const r = vhdx(['convert', at('snap', 'orphan.avhdx'), at(out)]);
      expect(r.status, out).toBe(4);
      const message = oneLine(r.stderr, 'IO');
      expect(message).toContain('not found');
      expect(message).toContain(join('gone', 'base.vhdx'));
      expect(() => readFileSync(at(out))).toThrow();
    }
    // a --parent that does not exist is an I/O error too
    const r = vhdx(['convert', at('snap', 'orphan.avhdx'), at('x.raw'), '--parent', at('nothing.vhdx')]);
    expect(r.status).toBe(4);
    expect(oneLine(r.stderr, 'IO')).toContain('nothing.vhdx');
  });

  it('--parent overrides the locator (convert and measure)', () => {
    const r = vhdx(['convert', at('snap', 'orphan.avhdx'), at('orphan-fixed.raw'), '--parent', at('base.vhdx')]);
    expect(r.status, r.stderr).toBe(0);
    const orphanSpec = { ...specs[0]!, blocks: everyState(SIZE, 2 * MiB, 512, 3, ['undefined', 'unmapped'], 3) };
    expect(firstDifference(readFileSync(at('orphan-fixed.raw')), flattenChain(disk, [orphanSpec]))).toBe(-1);
    const m = vhdx(['measure', at('snap', 'orphan.avhdx'), '--parent', at('base.vhdx'), '--json']);
    expect(m.status, m.stderr).toBe(0);
    expect(JSON.parse(m.text).required).toBeGreaterThan(0);
    expect(vhdx(['measure', at('snap', 'orphan.avhdx')]).status).toBe(4);
  });

  it('--ignore-linkage with a raw input, and --parent with a raw input onto stdout, are usage errors', () => {
    writeFileSync(at('plain.raw'), disk.subarray(0, MiB));
    const ignoring = vhdx(['convert', at('plain.raw'), at('plain.vhdx'), '--ignore-linkage']);
    expect(ignoring.status).toBe(2);
    expect(oneLine(ignoring.stderr, 'USAGE')).toContain('--ignore-linkage applies to a VHDX input only');
    const toStdout = vhdx(['convert', at('plain.raw'), '-', '-O', 'vhdx', '--parent', at('base.vhdx')]);
    expect(toStdout.status).toBe(2);
    expect(oneLine(toStdout.stderr, 'USAGE')).toContain('--parent with a raw input makes a differencing child');
    const toRaw = vhdx(['convert', at('plain.raw'), at('plain-copy.raw'), '--parent', at('base.vhdx')]);
    expect(toRaw.status).toBe(2);
    expect(oneLine(toRaw.stderr, 'USAGE')).toBe('--parent with a raw input makes a differencing child: the output must be VHDX');
    expect(existsSync(at('plain-copy.raw'))).toBe(false);
  });
});

describe('--ignore-linkage', () => {
  it('without it a changed parent is refused: exit 1, both GUIDs named', () => {
    const r = vhdx(['convert', at('snap', 'stale.avhdx'), at('stale.raw')]);
    expect(r.status).toBe(1);
    const message = oneLine(r.stderr, 'CORRUPT');
    expect(message).toContain(dataWriteGuidOf(base));
    expect(message).toMatch(/stale\.avhdx expects its parent to have DataWriteGuid \{[0-9a-f-]{36}\}/);
  });

  it('convert reads through it with one warning line on stderr', () => {
    for (const out of ['stale.raw', 'stale.vhdx']) {
      const r = vhdx(['convert', at('snap', 'stale.avhdx'), at(out), '--ignore-linkage']);
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^vhdx: warning: \S*stale\.avhdx expects its parent .* but base\.vhdx has .*; read anyway because of --ignore-linkage$/,
      );
    }
    const staleChild = readFileSync(at('snap', 'stale.avhdx'));
    const streamed = vhdx(['convert', '-', '-O', 'raw', '-', '--parent', at('base.vhdx'), '--ignore-linkage'], staleChild);
    expect(streamed.status, streamed.stderr).toBe(0);
    expect(streamed.stderr).toMatch(/^vhdx: warning: [^\n]*--ignore-linkage\n$/);
    expect(firstDifference(streamed.stdout, readFileSync(at('stale.raw')))).toBe(-1);
  });

  it('check lists it as a warning of level 0 and exits 0; info says mismatch', () => {
    const r = vhdx(['check', at('snap', 'stale.avhdx'), '--ignore-linkage']);
    expect(r.status, r.text).toBe(0);
    expect(r.text).toMatch(/^warning: level 0: CORRUPT parent-linkage-mismatch .*\nNo problems found\.\n$/);
    expect(r.stderr).toMatch(/^vhdx: warning: /);
    const json = JSON.parse(vhdx(['check', at('snap', 'stale.avhdx'), '--ignore-linkage', '--json']).text);
    expect(json.ok).toBe(true);
    expect(json.problems).toEqual([expect.objectContaining({ level: 0, severity: 'warning', reason: 'parent-linkage-mismatch' })]);
    const info = JSON.parse(vhdx(['info', at('snap', 'stale.avhdx'), '--ignore-linkage', '--json']).text);
    expect(info.chain.map((l: { linkage: string }) => l.linkage)).toEqual(['mismatch', 'none']);
    // without --ignore-linkage check reports the mismatch as a problem
    expect(vhdx(['check', at('snap', 'stale.avhdx')]).status).toBe(3);
  });
});

describe('a wrong parent given with --parent (the grandparent of a 3-level chain)', () => {
  it('is refused (exit 1) naming both GUIDs, what that means, and that base.vhdx is the parent of the real parent', () => {
    const r = vhdx(['convert', 'snap/c2.avhdx', 'wrong.raw', '--parent', 'base.vhdx']);
    expect(r.status).toBe(1);
    const message = oneLine(r.stderr, 'CORRUPT');
    expect(message).toMatch(/^parent \/\S*base\.vhdx: /);
    expect(message).toContain(
      `snap/c2.avhdx expects its parent to have DataWriteGuid {${dataWriteGuidOf(readFileSync(at('snap', 'c1.avhdx')))}}`,
    );
    expect(message).toContain(
      `but base.vhdx has {${dataWriteGuidOf(base)}}: base.vhdx is another disk, or one written after snap/c2.avhdx was made`,
    );
    expect(message).toContain("base.vhdx is the parent of snap/c1.avhdx, which is this file's parent; give --parent snap/c1.avhdx");
    expect(message).toContain('--ignore-linkage reads through it anyway: use it only when you know its data did not change');
    expect(message).not.toContain('ignoreLinkage');
    expect(existsSync(at('wrong.raw'))).toBe(false);
  });

  it('with --ignore-linkage it is read, the warning saying which changes the disk lacks', () => {
    const r = vhdx(['convert', 'snap/c2.avhdx', 'wrong.raw', '--parent', 'base.vhdx', '--ignore-linkage']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^vhdx: warning: snap\/c2\.avhdx expects its parent .*; read anyway because of --ignore-linkage, without the changes in snap\/c1\.avhdx\n$/,
    );
    expect(r.stderr).not.toContain('ignoreLinkage');
  });

  it("check lists it as a problem in the command line's words (exit 3); info shows the chain (exit 0)", () => {
    const r = vhdx(['check', 'snap/c2.avhdx', '--parent', 'base.vhdx']);
    expect(r.status).toBe(3);
    expect(r.text).toMatch(/^level 0: CORRUPT parent-linkage-mismatch parent locator parent_linkage: snap\/c2\.avhdx expects /);
    expect(r.text).not.toContain('ignoreLinkage');
    const info = vhdx(['info', 'snap/c2.avhdx', '--parent', 'base.vhdx', '--json']);
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(info.text).chain.map((l: { linkage: string }) => l.linkage)).toEqual(['mismatch', 'none']);
  });
});

describe('vhdx info on a child whose parent changed', () => {
  it('shows the chain, `mismatch` on that level, and exits 0 as for a missing parent; one warning line on stderr', () => {
    const r = vhdx(['info', at('snap', 'stale.avhdx')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.text).toMatch(/\n {2}0 {2}\S*stale\.avhdx: differencing, .*parent mismatch\n {2}1 {2}\S*base\.vhdx: dynamic, .*parent none\n/);
    expect(r.stderr).toMatch(/^vhdx: warning: \S*stale\.avhdx expects its parent to have DataWriteGuid [^\n]*--ignore-linkage[^\n]*\n$/);
    const json = JSON.parse(vhdx(['info', at('snap', 'stale.avhdx'), '--json']).text);
    expect(json.chain.map((l: { linkage: string }) => l.linkage)).toEqual(['mismatch', 'none']);
  });

  it('check names the location once, without a doubled prefix', () => {
    const r = vhdx(['check', at('snap', 'stale.avhdx')]);
    expect(r.status).toBe(3);
    expect(r.text).toMatch(/^level 0: CORRUPT parent-linkage-mismatch parent locator parent_linkage: \S*stale\.avhdx expects /);
    expect(r.text).not.toMatch(/parent locator.*parent locator/);
  });
});

describe('every error names its file and role', () => {
  it('a --parent of create that is no VHDX is named as the parent', () => {
    writeFileSync(at('disk.raw'), disk.subarray(0, MiB));
    const r = vhdx(['create', 'made.avhdx', '--parent', 'disk.raw']);
    expect(r.status).toBe(1);
    expect(oneLine(r.stderr, 'NOT_VHDX')).toMatch(/^parent \S*disk\.raw: file identifier /);
    expect(existsSync(at('made.avhdx'))).toBe(false);
  });

  it('an input that is no VHDX: check names it; info shows it as a raw disk, as qemu-img does', () => {
    writeFileSync(at('disk.raw.vhdx'), disk.subarray(0, MiB));
    const r = vhdx(['check', 'disk.raw.vhdx']);
    expect(oneLine(r.stderr, 'NOT_VHDX')).toMatch(/^input \S*disk\.raw\.vhdx: file identifier /);
    const info = vhdx(['info', 'disk.raw.vhdx']);
    expect(info.status, info.stderr).toBe(0);
    expect(String(info.stdout)).toMatch(/file format:\s+raw/);
  });

  it('a damaged level further down the chain is named with its chain level (convert, info)', () => {
    mkdirSync(at('broken', 'snap'), { recursive: true });
    writeFileSync(at('broken', 'base.vhdx'), disk.subarray(0, MiB));
    linkSync(at('snap', 'c1.avhdx'), at('broken', 'snap', 'c1.avhdx'));
    linkSync(at('snap', 'c2.avhdx'), at('broken', 'snap', 'c2.avhdx'));
    for (const args of [
      ['convert', 'broken/snap/c2.avhdx', 'broken.raw'],
      ['info', 'broken/snap/c2.avhdx'],
    ]) {
      const r = vhdx(args);
      expect(r.status, args[0]).toBe(1);
      expect(oneLine(r.stderr, 'NOT_VHDX'), args[0]).toMatch(/^parent \S*broken\/base\.vhdx \(chain level 2\): file identifier /);
    }
  });
});

describe('vhdx info on a URL', () => {
  it('gives the file size the server sent, whether it answers Range requests or streams (Content-Length)', async () => {
    const server = await serveFiles(new Map([['/base.vhdx', base]]));
    try {
      for (const query of ['', '?norange']) {
        const r = await runAsync(BIN, ['info', `${server.base}/base.vhdx${query}`], dir.path);
        expect(r.status, r.stderr).toBe(0);
        expect(String(r.stdout), query).toMatch(new RegExp(`\\nfile size: +\\S+ \\S+ \\(${base.length} bytes\\)\\n`));
      }
    } finally {
      await server.close();
    }
  });
});

describe('a truncated file', () => {
  it('info, check, convert and measure name the same first bad block, and the file', async () => {
    const raw = makeRaw(8 * MiB, 'data', 5);
    const whole = await collect(chunkedStream(raw).pipeThrough(new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB })));
    writeFileSync(at('cut.vhdx'), whole.subarray(0, whole.length - 3 * MiB));
    const info = oneLine(vhdx(['info', 'cut.vhdx']).stderr, 'TRUNCATED');
    const convert = oneLine(vhdx(['convert', 'cut.vhdx', 'cut.raw']).stderr, 'TRUNCATED');
    expect(info).toMatch(/^input \S*cut\.vhdx: bat at offset \d+ \(0x[0-9a-f]+\): block 5 /);
    expect(info).toBe(convert);
    expect(oneLine(vhdx(['measure', 'cut.vhdx']).stderr, 'TRUNCATED')).toBe(info);
    expect(vhdx(['check', 'cut.vhdx']).text.split('\n')[0]).toBe(`TRUNCATED bat-entry-past-eof ${info.replace(/^input \S*: /, '')}`);
  });
});

describeWith(['7zz'], 'the flattened chain against 7-Zip', () => {
  it('vhdx convert child.avhdx out.raw is byte-identical to 7zz e -so of the same chain', () => {
    // 7-Zip looks for every level's parent beside the file it opened: one folder
    mkdirSync(at('seven'), { recursive: true });
    const c1 = child(base, 2 * MiB, 'base.vhdx', 5);
    const c2 = child(c1.file, 4 * MiB, 'c1.avhdx', 6);
    writeFileSync(at('seven', 'base.vhdx'), base);
    writeFileSync(at('seven', 'c1.avhdx'), c1.file);
    writeFileSync(at('seven', 'c2.avhdx'), c2.file);
    const seven = sevenZipSha256(at('seven', 'c2.avhdx'));
    expect(seven.status, seven.stderr).toBe(0);
    expect(seven.sha256).toBe(sha256(flattenChain(disk, [c1.spec, c2.spec])));
    expect(vhdx(['convert', at('seven', 'c2.avhdx'), at('seven.raw')]).status).toBe(0);
    expect(sha256(readFileSync(at('seven.raw')))).toBe(seven.sha256);
  });
});

describe('files a chain reads through are never replaced by accident', () => {
  // family/dyn.vhdx <- family/child1.avhdx <- family/child2.avhdx, all in one folder
  const fam = (name: string) => at('family', name);
  const hashes = () => ['dyn.vhdx', 'child1.avhdx', 'child2.avhdx'].map((n) => sha256(readFileSync(fam(n))));
  beforeAll(() => {
    mkdirSync(at('family'), { recursive: true });
    writeFileSync(fam('dyn.vhdx'), base);
    writeFileSync(fam('new.raw'), disk);
    for (const [child, parent] of [
      ['child1.avhdx', 'dyn.vhdx'],
      ['child2.avhdx', 'child1.avhdx'],
    ]) {
      const r = vhdx(['create', fam(child!), '--parent', fam(parent!)]);
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it('create never replaces an existing file (exit 2, nothing touched), though another child reads through it', () => {
    const before = hashes();
    for (const args of [
      ['create', fam('child1.avhdx'), '--parent', fam('dyn.vhdx')],
      ['create', fam('new.raw'), '--parent', fam('dyn.vhdx')],
    ]) {
      const r = vhdx(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr, 'USAGE')).toMatch(/ exists: a new child never replaces a file/);
    }
    expect(hashes()).toEqual(before);
    expect(readFileSync(fam('new.raw')).length).toBe(disk.length);
  });

  it('convert onto a VHDX that a child beside it names as its parent is refused naming the child; --force replaces it', async () => {
    const before = hashes();
    for (const args of [
      ['convert', fam('new.raw'), fam('dyn.vhdx')],
      ['convert', fam('new.raw'), fam('child1.avhdx'), '--parent', fam('dyn.vhdx')],
      ['convert', fam('new.raw'), pathToFileURL(fam('child1.avhdx')).href],
    ]) {
      const r = vhdx(args);
      expect(r.status, args.join(' ')).toBe(2);
      const which = args[2] === fam('dyn.vhdx') ? 'child1' : 'child2';
      expect(r.stderr).not.toContain('file:');
      expect(oneLine(r.stderr, 'USAGE'), args.join(' ')).toMatch(
        new RegExp(`the output .* is the parent of .*${which}\\.avhdx: replacing it would break that child.*--force`),
      );
    }
    expect(hashes()).toEqual(before);
    // a VHDX no child names is replaced as before; so is the parent with --force
    expect(vhdx(['convert', fam('new.raw'), fam('child2.avhdx'), '-O', 'vhdx']).status).toBe(0);
    const forced = vhdx(['convert', fam('new.raw'), fam('dyn.vhdx'), '--force']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(node.childrenBeside).toBeTypeOf('function');
    expect(await node.childrenBeside(fam('dyn.vhdx'))).toEqual([]);
  });
});

describe('making children from the command line', () => {
  it('vhdx create child --parent base: an empty child that reads as its parent, its locator naming the parent relative to it', async () => {
    mkdirSync(at('made'), { recursive: true });
    const r = vhdx(['create', at('made', 'empty.avhdx'), '--parent', at('base.vhdx')]);
    expect(r.status, r.stderr).toBe(0);
    const image = await node.openVhdx(at('made', 'empty.avhdx'));
    expect(image.info.type).toBe('differencing');
    expect(image.info.parentLocator?.relative_path).toBe('..\\base.vhdx');
    expect(firstDifference(await image.read(0, SIZE), disk)).toBe(-1);
    await image.close();
    const bare = vhdx(['create', at('made', 'x.avhdx')]);
    expect(bare.status).toBe(2);
    expect(oneLine(bare.stderr, 'USAGE')).toMatch(/^create needs --parent/);
  });

  it('vhdx convert new.raw child.avhdx --parent base: a child holding only the blocks that differ, read back as the new disk', async () => {
    const changed = disk.slice();
    for (const at of [3 * MiB + 512, 7 * MiB + 100_000]) changed.fill(0x5a, at, at + 4096);
    writeFileSync(at('new.raw'), changed);
    const r = vhdx(['convert', at('new.raw'), at('made-child.avhdx'), '--parent', at('base.vhdx')]);
    expect(r.status, r.stderr).toBe(0);
    const image = await node.openVhdx(at('made-child.avhdx'));
    expect(image.info.type).toBe('differencing');
    expect(firstDifference(await image.read(0, SIZE), changed)).toBe(-1);
    // two changed blocks of 1 MiB (the parent's block size) over the 4 MiB of structures and a sector bitmap
    expect(readFileSync(at('made-child.avhdx')).length).toBeLessThanOrEqual(4 * MiB + MiB + 2 * MiB);
    await image.close();
    // the child is written at positions: not onto standard output
    const toStdout = vhdx(['convert', at('new.raw'), '-', '-O', 'vhdx', '--parent', at('base.vhdx')]);
    expect(toStdout.status).toBe(2);
    expect(oneLine(toStdout.stderr, 'USAGE')).toMatch(/^--parent with a raw input makes a differencing child, .*give a file output/);
  });

  it('refuses to write a child over its parent or a parent of its parent (exit 2), and leaves them as they were', () => {
    const before = { base: sha256(readFileSync(at('base.vhdx'))), c1: sha256(readFileSync(at('snap', 'c1.avhdx'))) };
    writeFileSync(at('over.raw'), disk);
    const cases: [string[], string, Uint8Array | undefined][] = [
      [['convert', at('over.raw'), at('base.vhdx'), '--parent', at('base.vhdx')], 'the parent', undefined],
      [['convert', '-', at('base.vhdx'), '--parent', at('snap', 'c1.avhdx')], 'a parent of the parent (level 1)', disk.subarray(0, MiB)],
      [['create', at('snap', 'c1.avhdx'), '--parent', at('snap', 'c1.avhdx')], 'the parent', undefined],
      [['create', at('snap', '..', 'base.vhdx'), '--parent', at('snap', 'c2.avhdx')], 'a parent of the parent (level 2)', undefined],
    ];
    for (const [args, which, input] of cases) {
      const r = vhdx(args, input);
      expect(r.status, args.join(' ')).toBe(2);
      // a file of the chain is named as such, by create too (which refuses any other existing file after)
      expect(oneLine(r.stderr, 'USAGE')).toMatch(
        new RegExp(`is ${which.replace(/[()]/g, '\\$&')}, .*: the child would replace the disk it is written against$`),
      );
    }
    expect({ base: sha256(readFileSync(at('base.vhdx'))), c1: sha256(readFileSync(at('snap', 'c1.avhdx'))) }).toEqual(before);
  });

  describe('from a stream: standard input or a URL, read once in order', () => {
    const changed = disk.slice();
    beforeAll(() => {
      // one sector in one block, a run in another, and a block now all zero
      changed.fill(0x33, 2 * MiB + 1024, 2 * MiB + 1536);
      changed.fill(0x44, 5 * MiB + 4096, 5 * MiB + 300_000);
      changed.fill(0, 8 * MiB, 10 * MiB);
    });

    async function expectChildOf(path: string, reads: Uint8Array): Promise<void> {
      const image = await node.openVhdx(path);
      try {
        expect(image.info.type).toBe('differencing');
        expect(image.info.parentLocator?.relative_path).toBe('base.vhdx');
        expect(firstDifference(await image.read(0, SIZE), reads)).toBe(-1);
      } finally {
        await image.close();
      }
    }

    it('standard input: the same child as from the file, and the same file', async () => {
      writeFileSync(at('changed.raw'), changed);
      const fromFile = vhdx(['convert', at('changed.raw'), at('from-file.avhdx'), '--parent', at('base.vhdx'), '--block-size', '2M']);
      expect(fromFile.status, fromFile.stderr).toBe(0);
      const r = vhdx(['convert', '-', at('from-stdin.avhdx'), '--parent', at('base.vhdx'), '--block-size', '2M'], changed);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      await expectChildOf(at('from-stdin.avhdx'), changed);
      const image = await node.openVhdx(at('from-stdin.avhdx'));
      expect(image.info.blockSize).toBe(2 * MiB);
      // the block now all zero over the parent's data reads as zeros from the child (a ZERO block), not from the parent
      const parent = await node.openVhdx(at('base.vhdx'));
      expect(parent.extents({ start: 8 * MiB, end: 10 * MiB }).some((e) => e.kind === 'data')).toBe(true);
      await parent.close();
      expect(image.extents({ start: 8 * MiB, end: 10 * MiB }).map((e) => e.kind)).toEqual(['zero']);
      await image.close();
      // two changed blocks of 2 MiB stored, over the 4 MiB of structures and one sector bitmap
      expect(readFileSync(at('from-stdin.avhdx')).length).toBeLessThanOrEqual(4 * MiB + MiB + 2 * 2 * MiB);
      // the same blocks stored as from the file
      await expectChildOf(at('from-file.avhdx'), changed);
      expect(readFileSync(at('from-file.avhdx')).length).toBe(readFileSync(at('from-stdin.avhdx')).length);
    });

    it('a URL: one GET, with or without Content-Length, gzip-encoded; a body cut short is an I/O error', async () => {
      const server = await serveFiles(new Map([['/changed.raw', changed]]));
      try {
        // gzip: fetch decodes the body, and its Content-Length (the compressed size) says nothing of the disk
        for (const query of ['', '?nolength', '?gzip']) {
          const name = `from-url${query.replace('?', '-')}.avhdx`;
          const r = await runAsync(BIN, ['convert', `${server.base}/changed.raw${query}`, at(name), '--parent', at('base.vhdx')], dir.path);
          expect(r.status, r.stderr).toBe(0);
          await expectChildOf(at(name), changed);
        }
        // a body cut off before its Content-Length: an I/O error, no child left
        const cut = await runAsync(
          BIN,
          ['convert', `${server.base}/changed.raw?cut`, at('cut.avhdx'), '--parent', at('base.vhdx')],
          dir.path,
        );
        expect(cut.status).toBe(4);
        expect(oneLine(cut.stderr, 'IO')).toContain(`reading ${server.base}/changed.raw?cut`);
        expect(existsSync(at('cut.avhdx'))).toBe(false);
      } finally {
        await server.close();
      }
    });

    it('input shorter than the parent: a notice, and the rest reads as zeros', async () => {
      const short = changed.subarray(0, 3 * MiB + 512);
      const r = vhdx(['convert', '-', at('short.avhdx'), '--parent', at('base.vhdx')], short);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr.trim()).toBe(
        `vhdx: note: the input ended after ${short.length} of the parent's ${SIZE} bytes: the rest of the child reads as zeros`,
      );
      const expected = new Uint8Array(SIZE);
      expected.set(short);
      await expectChildOf(at('short.avhdx'), expected);
    });

    it('input longer than the parent, and options a child cannot take: refused, no output left', () => {
      const long = new Uint8Array(SIZE + 512);
      const tooLong = vhdx(['convert', '-', at('long.avhdx'), '--parent', at('base.vhdx')], long);
      expect(tooLong.status).toBe(2);
      expect(oneLine(tooLong.stderr, 'USAGE')).toContain(`the input is longer than the parent's disk (${SIZE} bytes)`);
      expect(existsSync(at('long.avhdx'))).toBe(false);
      for (const [flags, says] of [
        [['--type', 'fixed'], 'a differencing child is always dynamic'],
        [['--size', '64M'], '--size does not apply to a differencing child'],
        [['--logical-sector-size', '4096'], '--logical-sector-size does not apply to a differencing child'],
      ] as const) {
        const r = vhdx(['convert', '-', at('refused.avhdx'), '--parent', at('base.vhdx'), ...flags], changed.subarray(0, MiB));
        expect(r.status).toBe(2);
        expect(oneLine(r.stderr, 'USAGE')).toMatch(new RegExp(`^${says}`));
        expect(existsSync(at('refused.avhdx'))).toBe(false);
      }
    });
  });
});

describe('--parent with a VHDX input that has no parent: a child of it (qemu-img convert -B)', () => {
  const changed = disk.slice();
  for (const offset of [2 * MiB + 4096, 9 * MiB + 70_000]) changed.fill(0x3c, offset, offset + 8192);
  beforeAll(async () => {
    writeFileSync(at('b.raw'), changed);
    const r = vhdx(['convert', at('b.raw'), at('b.vhdx'), '--block-size', '1M']);
    expect(r.status, r.stderr).toBe(0);
  });

  it('convert b.vhdx c.avhdx --parent base.vhdx writes a child holding only what differs, reading as b.vhdx', async () => {
    const r = vhdx(['convert', at('b.vhdx'), at('c.avhdx'), '--parent', at('base.vhdx')]);
    expect(r.status, r.stderr).toBe(0);
    const image = await node.openVhdx(at('c.avhdx'));
    expect(image.info.type).toBe('differencing');
    expect(image.info.parentLocator?.relative_path).toBe('base.vhdx');
    expect(firstDifference(await image.read(0, SIZE), changed)).toBe(-1);
    await image.close();
    // two changed 1 MiB blocks (the parent's block size) and a sector bitmap over the structures
    expect(readFileSync(at('c.avhdx')).length).toBeLessThanOrEqual(4 * MiB + MiB + 2 * MiB);
    // the library's own function, for a path input
    await node.convertVhdxToChild(at('b.vhdx'), at('c-lib.avhdx'), at('base.vhdx'));
    const lib = await node.openVhdx(at('c-lib.avhdx'));
    expect(firstDifference(await lib.read(0, SIZE), changed)).toBe(-1);
    await lib.close();
  });

  it('a raw output, stdout, or the VHDX on a pipe: usage errors, nothing written', () => {
    for (const [args, input, says] of [
      [['convert', at('b.vhdx'), at('c.raw'), '--parent', at('base.vhdx')], undefined, /the output must be VHDX/],
      [['convert', at('b.vhdx'), '-', '-O', 'vhdx', '--parent', at('base.vhdx')], undefined, /give a file output, not stdout/],
      [['convert', '-', at('c-pipe.avhdx'), '--parent', at('base.vhdx')], readFileSync(at('b.vhdx')), /give it by its path/],
      [['convert', '-', at('c-pipe.raw'), '--parent', at('base.vhdx')], readFileSync(at('b.vhdx')), /give it by its path/],
    ] as const) {
      const r = vhdx([...args], input);
      expect(r.status, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr, 'USAGE'), args.join(' ')).toMatch(says);
    }
    for (const name of ['c.raw', 'c-pipe.avhdx', 'c-pipe.raw']) expect(existsSync(at(name)), name).toBe(false);
  });

  it('by URL: with Range it makes the child; without, it is read as a stream and refused, no output left', async () => {
    const server = await serveFiles(new Map([['/b.vhdx', readFileSync(at('b.vhdx'))]]));
    try {
      const ranged = await runAsync(BIN, ['convert', `${server.base}/b.vhdx`, at('c-url.avhdx'), '--parent', at('base.vhdx')], dir.path);
      expect(ranged.status, ranged.stderr).toBe(0);
      const image = await node.openVhdx(at('c-url.avhdx'));
      expect(firstDifference(await image.read(0, SIZE), changed)).toBe(-1);
      await image.close();
      for (const out of ['c-url-norange.raw', 'c-url-norange.avhdx']) {
        const r = await runAsync(BIN, ['convert', `${server.base}/b.vhdx?norange`, at(out), '--parent', at('base.vhdx')], dir.path);
        expect(r.status, out).toBe(2);
        expect(oneLine(r.stderr, 'USAGE')).toMatch(/give it by its path/);
        expect(existsSync(at(out)), out).toBe(false);
      }
    } finally {
      await server.close();
    }
  });

  it('info, check and measure of a file without a parent, with --parent: usage errors (a differencing file takes it)', () => {
    for (const args of [
      ['info', at('b.vhdx')],
      ['check', at('b.vhdx')],
      ['measure', at('b.vhdx')],
      ['info', at('b.raw')],
      ['measure', at('b.raw')],
    ]) {
      const r = vhdx([...args, '--parent', at('base.vhdx')]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr, 'USAGE'), args.join(' ')).toMatch(
        /--parent (names the parent of a differencing VHDX|applies to a differencing VHDX)/,
      );
    }
    const child = vhdx(['info', at('snap', 'c1.avhdx'), '--parent', at('base.vhdx')]);
    expect(child.status, child.stderr).toBe(0);
  });
});
