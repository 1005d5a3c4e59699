// Differencing chains (Hyper-V checkpoints): a child read through its
// parents by openVhdx (bytes, paths, URLs), the decoder stream and the Node
// file path, against the expected merged disk and, first of all, against
// 7-Zip and libvhdi reading the same chains. Children are hand-built
// (test/helpers/differencing.ts): the library does not create them yet.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as node from '../src/node/index.js';
import { VhdxDecoderStream, VhdxEncoderStream, openVhdx, type RandomAccessSource, type VhdxError, type VhdxImage } from '../src/index.js';
import { firstDifference } from './helpers/bytes.js';
import {
  buildChild,
  dataWriteGuidOf,
  everyState,
  flattenChain,
  testGuid,
  type ChildSpec,
  type ReaderRules,
} from './helpers/differencing.js';
import { chunkedStream, collect, makeRaw } from './helpers/images.js';
import { reasonOf } from './helpers/reasons.js';
import { describeWith, pyvhdiRead, run, sevenZipSha256, sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const SIZE = 12 * MiB + 64 * 1024; // not a multiple of any block size: every chain ends in a partial block
const dir = tempDir('vhdx-chains-');
afterAll(() => dir.cleanup());

/** A chain: the base's file and disk, and each child's spec and file, base first. */
interface Chain {
  base: Uint8Array;
  disk: Uint8Array;
  specs: ChildSpec[];
  children: Uint8Array[];
}

async function encodeBase(disk: Uint8Array, lss: 512 | 4096, blockSize = MiB): Promise<Uint8Array> {
  const encoder = new VhdxEncoderStream({ virtualSize: disk.length, blockSize, logicalSectorSize: lss, physicalSectorSize: 4096 });
  return collect(chunkedStream(disk).pipeThrough(encoder));
}

/**
 * Children over `base`, one per block size, each in every state but `omit`;
 * child k names `names[k - 1]` (the file below it) as its relative_path.
 */
function growChain(
  base: Uint8Array,
  disk: Uint8Array,
  lss: 512 | 4096,
  blockSizes: number[],
  omit: ('zero' | 'undefined' | 'unmapped')[] = [],
  names?: string[],
): Chain {
  const chain: Chain = { base, disk, specs: [], children: [] };
  let parent = base;
  blockSizes.forEach((blockSize, k) => {
    const spec: ChildSpec = {
      virtualSize: disk.length,
      blockSize,
      lss,
      parentLinkage: dataWriteGuidOf(parent),
      relativePath: names?.[k] ?? 'unused.vhdx',
      blocks: everyState(disk.length, blockSize, lss, k + 1, omit, k * 3),
    };
    parent = buildChild(spec);
    chain.specs.push(spec);
    chain.children.push(parent);
  });
  return chain;
}

/** Finds any file of the chain by the linkage its child names. */
function resolverOf(chain: Chain) {
  const byGuid = new Map([chain.base, ...chain.children].map((f) => [dataWriteGuidOf(f), f]));
  return ({ locator }: { locator: Readonly<Record<string, string>> }) => byGuid.get(locator.parent_linkage!.slice(1, -1));
}

const top = (c: Chain) => c.children[c.children.length - 1]!;
const expected = (c: Chain, rules: ReaderRules = 'spec') => flattenChain(c.disk, c.specs, rules);

/** The parent chain of the top child, opened (for the decoder's `parent` option). */
function openParentOf(c: Chain): Promise<VhdxImage> {
  const parent = c.children.length > 1 ? c.children[c.children.length - 2]! : c.base;
  return openVhdx(parent, { resolveParent: resolverOf(c) });
}

const disk512 = makeRaw(SIZE, 'mixed', 21);
let base512: Uint8Array;
beforeAll(async () => {
  base512 = await encodeBase(disk512, 512);
});

describe('a chain read by the library', () => {
  const levels = [[2 * MiB], [2 * MiB, MiB], [2 * MiB, MiB, 4 * MiB]];

  it.each(levels.map((b) => [b.length, b] as const))(
    '%i level(s), block sizes differing from the parent: read, stream and the decoder stream give the merged disk',
    async (_, blockSizes) => {
      const chain = growChain(base512, disk512, 512, blockSizes);
      const want = expected(chain);
      const image = await openVhdx(top(chain), { resolveParent: resolverOf(chain) });
      expect(firstDifference(await image.read(0, SIZE), want)).toBe(-1);
      // unaligned reads across sectors, blocks and levels
      for (const [at, n] of [
        [511, 3],
        [MiB - 700, 5000],
        [2 * MiB - 1, 2 * MiB + 2],
        [SIZE - 4097, 4097],
      ] as const) {
        expect(firstDifference(await image.read(at, n), want.subarray(at, at + n))).toBe(-1);
      }
      expect(firstDifference(await collect(image.stream()), want)).toBe(-1);
      expect(
        firstDifference(await collect(image.stream({ start: 3 * MiB + 100, end: 9 * MiB + 7 })), want.subarray(3 * MiB + 100, 9 * MiB + 7)),
      ).toBe(-1);
      const parent = await openParentOf(chain);
      const decoded = await collect(chunkedStream(top(chain), [300_001, MiB]).pipeThrough(new VhdxDecoderStream({ parent })));
      expect(firstDifference(decoded, want)).toBe(-1);
      await image.close();
      await parent.close();
    },
  );

  it('extents name the level each stretch comes from, and its offset in that file', async () => {
    const chain = growChain(base512, disk512, 512, levels[2]!);
    const files = [top(chain), ...[...chain.children].reverse().slice(1), chain.base];
    const image = await openVhdx(top(chain), { resolveParent: resolverOf(chain) });
    const rebuilt = new Uint8Array(SIZE);
    const extents = image.extents();
    for (const e of extents) {
      if (e.kind === 'data') rebuilt.set(files[e.level]!.subarray(e.fileOffset, e.fileOffset + e.length), e.offset);
    }
    expect(firstDifference(rebuilt, expected(chain))).toBe(-1);
    expect(new Set(extents.filter((e) => e.kind === 'data').map((e) => (e as { level: number }).level))).toEqual(new Set([0, 1, 2, 3]));
    // neighbours of one kind, level and file run are merged
    for (let i = 1; i < extents.length; i++) {
      const [a, b] = [extents[i - 1]!, extents[i]!];
      expect(a.offset + a.length).toBe(b.offset);
      if (a.kind === 'data' && b.kind === 'data') expect(a.level === b.level && a.fileOffset + a.length === b.fileOffset).toBe(false);
      else expect(a.kind === b.kind && a.kind !== 'data').toBe(false);
    }
  });

  it('info.chain lists every level with its linkage; check() looks at every level', async () => {
    const chain = growChain(base512, disk512, 512, levels[1]!);
    const image = await openVhdx(top(chain), { resolveParent: resolverOf(chain) });
    expect(image.info.chain.map((l) => [l.type, l.blockSize, l.parentLinkage])).toEqual([
      ['differencing', MiB, 'ok'],
      ['differencing', 2 * MiB, 'ok'],
      ['dynamic', MiB, 'none'],
    ]);
    expect(image.info.chain[0]!.allocatedBytes).toBe(image.info.allocatedBytes);
    expect(image.parent?.parent?.info.type).toBe('dynamic');
    expect(await image.check()).toEqual({ ok: true, problems: [] });
    // a damaged header copy in the base is reported, at its level
    const damaged = chain.base.slice();
    damaged[64 * 1024 + 100]! ^= 0xff;
    const withDamage = await openVhdx(top(chain), { resolveParent: (r) => (r.depth === 2 ? damaged : resolverOf(chain)(r)) });
    const report = await withDamage.check();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ reason: 'header-checksum', level: 2 })]);
  });

  it('UNDEFINED and UNMAPPED blocks of a child read the parent; ZERO blocks read zeros (docs/differencing.md)', async () => {
    const blocks = new Map([
      [0, { state: 'undefined' as const }],
      [1, { state: 'unmapped' as const }],
      [2, { state: 'zero' as const }],
    ]);
    const child = buildChild({
      virtualSize: SIZE,
      blockSize: MiB,
      lss: 512,
      parentLinkage: dataWriteGuidOf(base512),
      relativePath: 'b.vhdx',
      blocks,
    });
    const image = await openVhdx(child, { parent: base512 });
    const got = await image.read(0, 4 * MiB);
    expect(firstDifference(got.subarray(0, 2 * MiB), disk512.subarray(0, 2 * MiB))).toBe(-1);
    expect(disk512.subarray(2 * MiB, 3 * MiB).some((b) => b !== 0)).toBe(true);
    expect(got.subarray(2 * MiB, 3 * MiB).every((b) => b === 0)).toBe(true);
    expect(image.extents({ start: 2 * MiB, end: 3 * MiB })).toEqual([{ kind: 'zero', offset: 2 * MiB, length: MiB }]);
  });

  it('the parent option: an opened image stays the caller’s, a parent opened by the chain closes with the child', async () => {
    const chain = growChain(base512, disk512, 512, levels[1]!);
    const closed: string[] = [];
    const counted = (name: string, bytes: Uint8Array): RandomAccessSource => ({
      size: bytes.length,
      read: async (offset, length) => bytes.subarray(offset, offset + length),
      close: () => void closed.push(name),
    });
    const base = await openVhdx(counted('base', chain.base));
    const middle = await openVhdx(counted('middle', chain.children[0]!), { parent: base });
    const image = await openVhdx(counted('top', top(chain)), { parent: middle });
    expect(firstDifference(await image.read(0, SIZE), expected(chain))).toBe(-1);
    await image.close();
    expect(closed).toEqual(['top']);
    await middle.close();
    expect(closed).toEqual(['top', 'middle']);
    const owned = await openVhdx(counted('top', top(chain)), {
      resolveParent: ({ depth }) => (depth === 1 ? counted('middle', chain.children[0]!) : counted('base', chain.base)),
    });
    await owned.close();
    expect(closed.slice(2).sort()).toEqual(['base', 'middle', 'top']);
  });

  it('ignoreLinkage accepts a parent whose DataWriteGuid changed, with a warning that leaves check() ok', async () => {
    const child = buildChild({
      virtualSize: SIZE,
      blockSize: MiB,
      lss: 512,
      parentLinkage: testGuid(),
      relativePath: 'b.vhdx',
      blocks: everyState(SIZE, MiB, 512, 9),
    });
    expect(await reasonOf(openVhdx(child, { parent: base512 }))).toBe('parent-linkage-mismatch');
    const image = await openVhdx(child, { parent: base512, ignoreLinkage: true });
    expect(image.info.chain[0]!.parentLinkage).toBe('mismatch');
    const report = await image.check();
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([expect.objectContaining({ reason: 'parent-linkage-mismatch', severity: 'warning' })]);
    const parent = await openVhdx(base512);
    expect(await reasonOf(collect(chunkedStream(child).pipeThrough(new VhdxDecoderStream({ parent }))))).toBe('parent-linkage-mismatch');
    const decoded = await collect(chunkedStream(child).pipeThrough(new VhdxDecoderStream({ parent, ignoreLinkage: true })));
    expect(firstDifference(decoded, await image.read(0, SIZE))).toBe(-1);
  });

  it('parent_linkage2 is accepted as the parent’s identity too', async () => {
    const spec: ChildSpec = {
      virtualSize: SIZE,
      blockSize: MiB,
      lss: 512,
      parentLinkage: testGuid(),
      parentLinkage2: dataWriteGuidOf(base512),
      relativePath: 'b.vhdx',
      blocks: everyState(SIZE, MiB, 512, 4),
    };
    const image = await openVhdx(buildChild(spec), { parent: base512 });
    expect(firstDifference(await image.read(0, SIZE), flattenChain(disk512, [spec]))).toBe(-1);
  });

  it('allowMissingParent opens a child alone: info says missing, check() reports it, reads needing the parent refuse', async () => {
    const child = top(growChain(base512, disk512, 512, [MiB]));
    const image = await openVhdx(child, { allowMissingParent: true });
    expect(image.info.chain.map((l) => l.parentLinkage)).toEqual(['missing']);
    expect((await image.check()).problems.map((p) => p.reason)).toEqual(['parent-missing']);
    expect(await reasonOf(image.read(0, SIZE))).toBe('parent-missing');
    expect(await reasonOf(() => image.extents())).toBe('parent-missing');
    expect(await reasonOf(() => image.stream())).toBe('parent-missing');
    const report = await node.checkVhdx(child);
    expect(report.ok).toBe(false);
    expect(report.info!.chain[0]!.parentLinkage).toBe('missing');
  });

  it('the decoder holds payload stored before a sector bitmap, within maxBufferBytes', async () => {
    const chain = growChain(base512, disk512, 512, [MiB]);
    const parent = await openVhdx(chain.base);
    // the builder stores the sector bitmap after every payload block
    const tight = new VhdxDecoderStream({ parent, maxBufferBytes: MiB });
    expect(await reasonOf(collect(chunkedStream(top(chain)).pipeThrough(tight)))).toBe('reorder-buffer-full');
    const decoded = await collect(chunkedStream(top(chain)).pipeThrough(new VhdxDecoderStream({ parent })));
    expect(firstDifference(decoded, expected(chain))).toBe(-1);
  });

  it('a 4096-byte-sector chain over a base written by this library', async () => {
    const disk = makeRaw(SIZE, 'mixed', 22);
    const chain = growChain(await encodeBase(disk, 4096), disk, 4096, [4 * MiB, MiB, 2 * MiB]);
    const image = await openVhdx(top(chain), { resolveParent: resolverOf(chain) });
    expect(firstDifference(await image.read(0, SIZE), expected(chain))).toBe(-1);
    const decoded = await collect(chunkedStream(top(chain)).pipeThrough(new VhdxDecoderStream({ parent: await openParentOf(chain) })));
    expect(firstDifference(decoded, expected(chain))).toBe(-1);
  });
});

describe('chains on disk (the Node entry)', () => {
  /** Writes a 3-level chain as Hyper-V keeps it: checkpoints in a folder beside the base's. */
  function writeChain(root: string): { chain: Chain; paths: string[] } {
    mkdirSync(join(root, 'Virtual Hard Disks', 'Snapshots'), { recursive: true });
    const names = ['..\\base.vhdx', 'first.avhdx', '.\\second.avhdx'];
    const chain = growChain(base512, disk512, 512, [2 * MiB, MiB, 4 * MiB], [], names);
    const paths = [
      join(root, 'Virtual Hard Disks', 'base.vhdx'),
      ...['first', 'second', 'third'].map((n) => join(root, 'Virtual Hard Disks', 'Snapshots', `${n}.avhdx`)),
    ];
    for (const [i, f] of [chain.base, ...chain.children].entries()) writeFileSync(paths[i]!, f);
    return { chain, paths };
  }

  it('openVhdx(path) follows relative_path (`\\` separators, `..`) from each child’s folder', async () => {
    const { chain, paths } = writeChain(join(dir.path, 'vm1'));
    const image = await node.openVhdx(paths[3]!);
    expect(image.info.chain.map((l) => l.location)).toEqual([...paths].reverse());
    expect(firstDifference(await image.read(0, SIZE), expected(chain))).toBe(-1);
    await image.close();
    expect(await node.checkVhdx(paths[3]!)).toMatchObject({ ok: true, problems: [] });
  });

  it('a wrong parent given (the base under a 4-level chain): the error carries both GUIDs, the files and the levels between', async () => {
    const { chain, paths } = writeChain(join(dir.path, 'vm-wrong'));
    const err = (await node.openVhdx(paths[3]!, { parent: paths[0]! }).catch((e) => e)) as VhdxError;
    expect(err.reason).toBe('parent-linkage-mismatch');
    expect(err.file).toEqual({ role: 'parent', level: 1, path: paths[0] });
    expect(err.linkage).toEqual({
      expected: [dataWriteGuidOf(chain.children[1]!)],
      actual: dataWriteGuidOf(chain.base),
      child: paths[3],
      parent: paths[0],
      ancestorVia: [paths[2], paths[1]],
    });
    expect(err.message).toContain(`${paths[0]} is further down the chain`);
    expect(err.message).not.toContain('--ignore-linkage');
    // the parent's own parent given: the levels between are the one parent
    const next = (await node.openVhdx(paths[3]!, { parent: paths[1]! }).catch((e) => e)) as VhdxError;
    expect(next.linkage?.ancestorVia).toEqual([paths[2]]);
    // a report opens the chain the wrong parent leads to, the mismatch an error of level 0
    const report = await node.checkVhdx(paths[3]!, { parent: paths[0]! });
    expect(report.ok).toBe(false);
    expect(report.info?.chain.map((l) => l.parentLinkage)).toEqual(['mismatch', 'none']);
    expect(report.problems).toEqual([expect.objectContaining({ reason: 'parent-linkage-mismatch', linkage: err.linkage })]);
    expect(report.problems[0]!.severity).toBeUndefined();
  });

  it('an error in a level names that file, its role and its chain level', async () => {
    const { paths } = writeChain(join(dir.path, 'vm-damaged'));
    writeFileSync(paths[0]!, new Uint8Array(MiB));
    const err = (await node.openVhdx(paths[3]!).catch((e) => e)) as VhdxError;
    expect([err.reason, err.file]).toEqual(['not-vhdx', { role: 'parent', level: 3, path: paths[0] }]);
    expect(err.message).toMatch(/^parent .+base\.vhdx \(chain level 3\): file identifier /);
    const report = await node.checkVhdx(paths[3]!);
    expect(report.problems).toEqual([expect.objectContaining({ reason: 'not-vhdx', level: 3, stopped: true })]);
    const input = (await node.openVhdx(paths[0]!).catch((e) => e)) as VhdxError;
    expect(input.file).toEqual({ role: 'input', level: 0, path: paths[0] });
  });

  it('convertVhdxFileToRaw flattens the chain, reading each stretch from its level', async () => {
    const { chain, paths } = writeChain(join(dir.path, 'vm2'));
    const out = join(dir.path, 'vm2.raw');
    const result = await node.convertVhdxFileToRaw(paths[3]!, out);
    expect(result.virtualSize).toBe(SIZE);
    expect(firstDifference(readFileSync(out), expected(chain))).toBe(-1);
  });

  it('the command line flattens a chain whose parents lie beside it, to a raw file and to a flat VHDX', async () => {
    const { chain, paths } = writeChain(join(dir.path, 'vm-cli'));
    const bin = new URL('../bin/vhdx.js', import.meta.url).pathname;
    const want = expected(chain);
    const toFile = join(dir.path, 'vm-cli.raw');
    const r1 = run(process.execPath, [bin, 'convert', paths[3]!, toFile]);
    expect(r1.status, r1.stderr).toBe(0);
    expect(firstDifference(readFileSync(toFile), want)).toBe(-1);
    const flat = join(dir.path, 'vm-cli.vhdx');
    const r2 = run(process.execPath, [bin, 'convert', paths[3]!, flat]);
    expect(r2.status, r2.stderr).toBe(0);
    const image = await node.openVhdx(flat);
    expect(image.info.type).toBe('dynamic');
    expect(firstDifference(await image.read(0, SIZE), want)).toBe(-1);
    await image.close();
  });

  it('the parent option takes a path; volume_path and absolute_win32_path are skipped on Linux and named when nothing is found', async () => {
    const spec: ChildSpec = {
      virtualSize: SIZE,
      blockSize: MiB,
      lss: 512,
      parentLinkage: dataWriteGuidOf(base512),
      relativePath: 'nowhere\\base.vhdx',
      volumePath: '\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\\vm\\base.vhdx',
      absoluteWin32Path: '\\\\?\\C:\\vm\\base.vhdx',
      blocks: everyState(SIZE, MiB, 512, 5),
    };
    const childPath = join(dir.path, 'lonely.avhdx');
    const basePath = join(dir.path, 'elsewhere.vhdx');
    writeFileSync(childPath, buildChild(spec));
    writeFileSync(basePath, base512);
    const err = (await node.openVhdx(childPath).catch((e: unknown) => e)) as VhdxError;
    expect(err).toMatchObject({ reason: 'parent-missing', code: 'IO' });
    for (const named of [join(dir.path, 'nowhere', 'base.vhdx'), 'volume_path', 'absolute_win32_path', `not usable on ${process.platform}`])
      expect(err.message).toContain(named);
    const image = await node.openVhdx(childPath, { parent: basePath });
    expect(image.info.chain[1]!.location).toBe(basePath);
    expect(firstDifference(await image.read(0, SIZE), flattenChain(disk512, [spec]))).toBe(-1);
    await image.close();
  });
});

describe('chains over http (relative_path against the child’s URL)', () => {
  let server: Server;
  let root: string;
  const files = new Map<string, Uint8Array>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      const body = files.get(decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      const [start, end] = (/bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '') ?? []).slice(1).map(Number) as [number, number];
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}` });
      res.end(body.subarray(start, end + 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    root = `http://127.0.0.1:${address.port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('finds each parent relative to its child’s URL', async () => {
    const chain = growChain(base512, disk512, 512, [MiB, 2 * MiB], [], ['..\\disks\\base disk.vhdx', 'one.avhdx']);
    files.set('/disks/base disk.vhdx', chain.base);
    files.set('/snap/one.avhdx', chain.children[0]!);
    files.set('/snap/two.avhdx', chain.children[1]!);
    const image = await openVhdx(`${root}/snap/two.avhdx`);
    expect(image.info.chain.map((l) => l.location)).toEqual([
      `${root}/snap/two.avhdx`,
      `${root}/snap/one.avhdx`,
      `${root}/disks/base%20disk.vhdx`,
    ]);
    expect(firstDifference(await image.read(0, SIZE), expected(chain))).toBe(-1);
    files.delete('/disks/base disk.vhdx');
    const err = (await openVhdx(`${root}/snap/two.avhdx`).catch((e: unknown) => e)) as VhdxError;
    expect(err.reason).toBe('parent-missing');
    expect(err.message).toContain(`${root}/disks/base%20disk.vhdx`);
  });
});

// ---- interop: 7-Zip and libvhdi read the same chains ------------------------

/**
 * Writes `chain` to `folder` as base.vhdx, c1.avhdx, … (each child names the
 * file below it by relative_path, as 7-Zip follows it) and returns the paths, base first.
 */
function writeFlat(chain: Chain, folder: string): string[] {
  mkdirSync(folder, { recursive: true });
  const paths = [join(folder, 'base.vhdx'), ...chain.children.map((_, i) => join(folder, `c${i + 1}.avhdx`))];
  for (const [i, f] of [chain.base, ...chain.children].entries()) writeFileSync(paths[i]!, f);
  return paths;
}

const NAMES = ['base.vhdx', 'c1.avhdx', 'c2.avhdx'];

/** What 7-Zip, libvhdi and this library read from the top of the chain at `paths`. */
async function readers(paths: string[]) {
  const topPath = paths[paths.length - 1]!;
  const image = await node.openVhdx(topPath);
  const ours = sha256(await image.read(0, image.info.virtualSize));
  await image.close();
  const seven = sevenZipSha256(topPath);
  expect(seven.status, seven.stderr).toBe(0);
  const libvhdi = pyvhdiRead(topPath, ...[...paths].reverse().slice(1));
  return { ours, sevenZip: seven.sha256, libvhdi: libvhdi.sha256 };
}

describeWith(['qemu-img', '7zz', 'pyvhdi'], 'interop: chains read like 7-Zip and libvhdi read them', () => {
  const bases: Record<string, () => Promise<{ base: Uint8Array; disk: Uint8Array; lss: 512 | 4096 }>> = {
    'a qemu-img base (512-byte sectors)': async () => {
      const disk = makeRaw(SIZE, 'mixed', 31);
      const raw = join(dir.path, 'qemu-base.raw');
      const vhdx = join(dir.path, 'qemu-base.vhdx');
      writeFileSync(raw, disk);
      const made = run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'subformat=dynamic,block_size=1M', raw, vhdx]);
      expect(made.status, made.stderr).toBe(0);
      return { base: new Uint8Array(readFileSync(vhdx)), disk, lss: 512 };
    },
    'a 4096-byte-sector base written by this library': async () => {
      const disk = makeRaw(SIZE, 'mixed', 32);
      return { base: await encodeBase(disk, 4096, 2 * MiB), disk, lss: 4096 };
    },
  };
  const blockSizes = [2 * MiB, MiB, 4 * MiB];

  for (const [name, makeBase] of Object.entries(bases)) {
    describe(`over ${name}`, () => {
      it.each([1, 2, 3])('%i level(s) without UNDEFINED or UNMAPPED blocks: byte-identical to `7zz e -so`', async (levels) => {
        const { base, disk, lss } = await makeBase();
        const chain = growChain(base, disk, lss, blockSizes.slice(0, levels), ['undefined', 'unmapped'], NAMES);
        const got = await readers(writeFlat(chain, join(dir.path, `7z-${lss}-${levels}`)));
        expect(got.ours).toBe(sha256(expected(chain)));
        expect(got.sevenZip).toBe(got.ours);
      });

      // libvhdi 20210425 reads a differencing file's ZERO blocks from the parent, against MS-VHDX 2.5.1.1
      it.each([1, 2, 3])('%i level(s) without ZERO blocks: byte-identical to libvhdi (pyvhdi, child.set_parent)', async (levels) => {
        const { base, disk, lss } = await makeBase();
        const chain = growChain(base, disk, lss, blockSizes.slice(0, levels), ['zero'], NAMES);
        const got = await readers(writeFlat(chain, join(dir.path, `vhdi-${lss}-${levels}`)));
        expect(got.ours).toBe(sha256(expected(chain)));
        expect(got.libvhdi).toBe(got.ours);
      });

      it('every block state: each peer differs from this library exactly where its rules do', async () => {
        const { base, disk, lss } = await makeBase();
        const chain = growChain(base, disk, lss, blockSizes, [], NAMES);
        const got = await readers(writeFlat(chain, join(dir.path, `all-${lss}`)));
        expect(got.ours).toBe(sha256(expected(chain, 'spec')));
        // 7-Zip reads UNDEFINED and UNMAPPED as zeros; libvhdi reads ZERO from the parent
        expect(got.sevenZip).toBe(sha256(expected(chain, '7zz')));
        expect(got.libvhdi).toBe(sha256(expected(chain, 'libvhdi')));
        expect(new Set([got.ours, got.sevenZip, got.libvhdi]).size).toBe(3);
      });
    });
  }

  it('the flattened chain, written as a VHDX, compares equal to the expected raw in qemu-img', async () => {
    const { base, disk, lss } = await bases['a qemu-img base (512-byte sectors)']!();
    const chain = growChain(base, disk, lss, blockSizes, [], NAMES);
    const paths = writeFlat(chain, join(dir.path, 'flatten'));
    const image = await node.openVhdx(paths[3]!);
    const flat = join(dir.path, 'flat.vhdx');
    const rawOut = join(dir.path, 'flat-expected.raw');
    writeFileSync(flat, await collect(image.stream().pipeThrough(new VhdxEncoderStream({ virtualSize: SIZE }))));
    writeFileSync(rawOut, expected(chain));
    await image.close();
    const cmp = run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', flat, rawOut]);
    expect(cmp.status, cmp.stdout + cmp.stderr).toBe(0);
  });
});

describe('convertVhdxFileToVhdx: a chain flattened, or a VHDX re-encoded, into a VHDX', () => {
  const MB = 1024 * 1024;
  const at = (name: string) => join(dir.path, `reencode-${name}`);

  it('a child flattened to a VHDX equals the merged disk; block and sector sizes follow the input unless given', async () => {
    const base = makeRaw(4 * MB, 'mixed', 21);
    const changed = Uint8Array.from(base);
    changed.set(makeRaw(MB, 'data', 22), MB);
    writeFileSync(at('base.raw'), base);
    writeFileSync(at('changed.raw'), changed);
    await node.convertRawFileToVhdx(at('base.raw'), at('base.vhdx'), { blockSize: MB, logicalSectorSize: 4096, physicalSectorSize: 512 });
    await node.convertRawFileToChild(at('changed.raw'), at('child.avhdx'), at('base.vhdx'));
    for (const [name, options, blockSize, type] of [
      ['flat.vhdx', {}, MB, 'dynamic'],
      ['flat-2m.vhdx', { blockSize: 2 * MB }, 2 * MB, 'dynamic'],
      ['flat-fixed.vhdx', { type: 'fixed' as const }, MB, 'fixed'],
    ] as const) {
      await node.convertVhdxFileToVhdx(at('child.avhdx'), at(name), options);
      const flat = await node.openVhdx(at(name));
      try {
        expect(flat.info.parentLocator).toBeUndefined(); // a standalone disk
        expect([flat.info.blockSize, flat.info.logicalSectorSize, flat.info.physicalSectorSize]).toEqual([blockSize, 4096, 512]);
        expect(flat.info.type).toBe(type);
        expect(firstDifference(await flat.read(0, changed.length), changed)).toBe(-1);
      } finally {
        await flat.close();
      }
    }
  });

  it('a larger virtualSize reads as zeros past the input; a smaller one, or an output in the chain, is refused', async () => {
    await node.convertVhdxFileToVhdx(at('child.avhdx'), at('grown.vhdx'), { virtualSize: 8 * MB });
    const grown = await node.openVhdx(at('grown.vhdx'));
    expect(grown.info.virtualSize).toBe(8 * MB);
    expect((await grown.read(4 * MB, 4 * MB)).every((b) => b === 0)).toBe(true);
    await grown.close();
    expect(await reasonOf(node.convertVhdxFileToVhdx(at('child.avhdx'), at('small.vhdx'), { virtualSize: 2 * MB }))).toBe('input-too-long');
    expect(await reasonOf(node.convertVhdxFileToVhdx(at('child.avhdx'), at('base.vhdx')))).toBe('output-is-input');
    expect(await reasonOf(node.convertVhdxFileToVhdx(at('child.avhdx'), at('x.vhdx'), { chunkSize: 1 } as never))).toBe('invalid-option');
  });
});
