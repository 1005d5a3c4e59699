// Real ext4 filesystems for the guest reader's tests: mkfs.ext4 and debugfs
// make and change them, e2fsck and debugfs judge them afterwards. Partition
// tables are written here (GPT and MBR), so nothing beyond e2fsprogs is needed.
import { crc32 } from '@node-rs/crc32';
import { randomBytes } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeGuid } from '../../src/format/guid.js';
import { describe } from 'vitest';
import { IN_CI, run } from './tools.js';

export const MiB = 1024 * 1024;

/** e2fsprogs' programs by path: they live in /usr/sbin or /sbin, which a user's PATH may lack. */
const E2FSPROGS = ['mkfs.ext4', 'debugfs', 'e2fsck', 'dumpe2fs'] as const;
const toolPath = new Map<string, string>();
for (const tool of E2FSPROGS) {
  const found = [run('sh', ['-c', `command -v ${tool}`]).stdout.trim(), `/usr/sbin/${tool}`, `/sbin/${tool}`].find(
    (p) => p !== '' && run('test', ['-x', p]).status === 0,
  );
  if (found) toolPath.set(tool, found);
}
/** e2fsprogs programs not found (their tests skip locally, fail under CI). */
export const missingE2fsprogs = E2FSPROGS.filter((tool) => !toolPath.has(tool));
const e2 = (tool: (typeof E2FSPROGS)[number]): string => toolPath.get(tool) ?? tool;

/** describe() over real filesystems: skips visibly without e2fsprogs locally; under CI=true runs (and fails). */
export const describeWithE2fsprogs = (title: string, body: () => void): void => {
  if (missingE2fsprogs.length === 0 || IN_CI) describe(title, body);
  else {
    console.warn(`[e2fsprogs] skipping "${title}": ${missingE2fsprogs.join(', ')} not installed`);
    describe.skip(title, body);
  }
};
export const LINUX_FS_GUID = '0fc63daf-8483-4772-8e79-3d69d8477de4';

/** Makes an ext4 filesystem image of `sizeMiB` at `path` with mkfs.ext4's extra `args`. */
export function mkfs(path: string, sizeMiB: number, args: string[] = []): void {
  writeFileSync(path, Buffer.alloc(0));
  truncateSync(path, sizeMiB * MiB);
  const r = run(e2('mkfs.ext4'), ['-F', '-q', ...args, path]);
  if (r.status !== 0) throw new Error(`mkfs.ext4 ${args.join(' ')}: ${r.stderr}`);
}

/** Runs debugfs commands (write access when `write`), returning its stdout. */
export function debugfs(path: string, commands: string[], write = true): string {
  const dir = join(path, '..');
  const cmdFile = join(dir, `cmds-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(cmdFile, `${commands.join('\n')}\n`);
  const r = run(e2('debugfs'), [...(write ? ['-w'] : []), '-f', cmdFile, path]);
  if (r.status !== 0) throw new Error(`debugfs: ${r.stderr}`);
  return r.stdout;
}

/** Each file's `stat` output from one debugfs run (debugfs -f echoes each command before its output). */
function stats(path: string, names: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const text = debugfs(
    path,
    names.map((n) => `stat ${n}`),
    false,
  );
  for (const part of text.split(/^debugfs: stat /m).slice(1)) {
    const nl = part.indexOf('\n');
    out.set(part.slice(0, nl).trim(), part.slice(nl + 1));
  }
  return out;
}

function blocksOf(stat: string): number[] {
  const blocks: number[] = [];
  // "(0-1023):1234-2257, (IND):2258, (ETB0):99" style extents
  const section = stat.split(/\n(?:BLOCKS|EXTENTS):\n/)[1] ?? '';
  for (const m of section.matchAll(/\(([^)]*)\):(\d+)(?:-(\d+))?/g)) {
    const from = Number(m[2]);
    const to = m[3] ? Number(m[3]) : from;
    for (let b = from; b <= to; b++) blocks.push(b);
  }
  return blocks;
}

/** The filesystem blocks the files use (data, extent tree and indirect blocks), from debugfs. */
export function filesBlocks(path: string, names: string[]): number[] {
  const all = stats(path, names);
  return names.flatMap((n) => blocksOf(all.get(n) ?? ''));
}

export interface Populated {
  kept: Map<string, Buffer>;
  /** Blocks each deleted file used before it was deleted. */
  deletedBlocks: number[];
  deletedBytes: number;
}

/**
 * Writes `count` files of random bytes (64 KiB..3 MiB) into the filesystem at
 * `path`, then deletes every other one; `seed` picks the sizes.
 */
export function populate(path: string, work: string, count: number, seed: number): Populated {
  let s = seed >>> 0 || 1;
  const rand = (n: number): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % n;
  };
  const kept = new Map<string, Buffer>();
  const deleted: string[] = [];
  const writes: string[] = [];
  for (let i = 0; i < count; i++) {
    const size = 64 * 1024 + rand(3 * 1024) * 1024 + rand(4096);
    const data = randomBytes(size);
    const src = join(work, `src-${i}`);
    writeFileSync(src, data);
    const name = `file${i}`;
    writes.push(`write ${src} ${name}`);
    if (i % 2 === 1) deleted.push(name);
    else kept.set(name, data);
  }
  debugfs(path, writes);
  const deletedStats = stats(path, deleted);
  const deletedBlocks = deleted.flatMap((n) => blocksOf(deletedStats.get(n)!));
  let deletedBytes = 0;
  for (const n of deleted) deletedBytes += Number(/Size: (\d+)/.exec(deletedStats.get(n)!)![1]);
  debugfs(
    path,
    deleted.map((n) => `rm ${n}`),
  );
  return { kept, deletedBlocks, deletedBytes };
}

/** The bytes of each file as debugfs dumps it from the filesystem image at `path`. */
export function dumpFiles(path: string, names: string[], work: string): Map<string, Buffer> {
  const out = (n: string): string => join(work, `dump-${n}`);
  debugfs(
    path,
    names.map((n) => `dump ${n} ${out(n)}`),
    false,
  );
  return new Map(names.map((n) => [n, readFileSync(out(n))]));
}

/** e2fsck -fn: exit status and output. */
export function fsck(path: string): { status: number; output: string } {
  const r = run(e2('e2fsck'), ['-fn', path]);
  return { status: r.status, output: r.stdout + r.stderr };
}

/** dumpe2fs's output (`-h`: the superblock only). */
export function dumpe2fs(path: string, headerOnly = false): string {
  return run(e2('dumpe2fs'), [...(headerOnly ? ['-h'] : []), path]).stdout;
}

/** Block size and group descriptor facts from dumpe2fs: block bitmap locations per group. */
export function blockBitmaps(path: string): { blockSize: number; bitmaps: number[] } {
  const r = run(e2('dumpe2fs'), [path]);
  const blockSize = Number(/Block size:\s+(\d+)/.exec(r.stdout)![1]);
  const bitmaps = [...r.stdout.matchAll(/Block bitmap at (\d+)/g)].map((m) => Number(m[1]));
  return { blockSize, bitmaps };
}

export interface GptPartition {
  firstLba: number;
  sectors: number;
  type?: string;
  name?: string;
}

/** Writes a protective MBR, a primary GPT (128 entries) and its backup into `disk`. */
export function writeGpt(disk: Uint8Array, sectorSize: number, parts: GptPartition[]): void {
  const dv = new DataView(disk.buffer, disk.byteOffset, disk.byteLength);
  const sectors = Math.floor(disk.length / sectorSize);
  // protective MBR
  disk[446 + 4] = 0xee;
  dv.setUint32(446 + 8, 1, true);
  dv.setUint32(446 + 12, Math.min(sectors - 1, 0xffffffff), true);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  const entries = new Uint8Array(128 * 128);
  const ev = new DataView(entries.buffer);
  parts.forEach((p, i) => {
    const at = i * 128;
    writeGuid(entries, at, p.type ?? LINUX_FS_GUID);
    writeGuid(entries, at + 16, '12345678-1234-4234-8234-1234567890ab'.replace(/ab$/, (10 + i).toString(16).padStart(2, '0')));
    ev.setBigUint64(at + 32, BigInt(p.firstLba), true);
    ev.setBigUint64(at + 40, BigInt(p.firstLba + p.sectors - 1), true);
    const name = p.name ?? `part${i + 1}`;
    for (let c = 0; c < name.length; c++) ev.setUint16(at + 56 + 2 * c, name.charCodeAt(c), true);
  });
  const arraySectors = entries.length / sectorSize;
  const header = (myLba: number, altLba: number, arrayLba: number): Uint8Array => {
    const h = new Uint8Array(sectorSize);
    const hv = new DataView(h.buffer);
    h.set(new TextEncoder().encode('EFI PART'), 0);
    hv.setUint32(8, 0x00010000, true);
    hv.setUint32(12, 92, true);
    hv.setBigUint64(24, BigInt(myLba), true);
    hv.setBigUint64(32, BigInt(altLba), true);
    hv.setBigUint64(40, BigInt(2 + arraySectors), true);
    hv.setBigUint64(48, BigInt(sectors - 2 - arraySectors), true);
    writeGuid(h, 56, 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee');
    hv.setBigUint64(72, BigInt(arrayLba), true);
    hv.setUint32(80, 128, true);
    hv.setUint32(84, 128, true);
    hv.setUint32(88, crc32(entries), true);
    hv.setUint32(16, crc32(h.subarray(0, 92)), true);
    return h;
  };
  disk.set(header(1, sectors - 1, 2), sectorSize);
  disk.set(entries, 2 * sectorSize);
  disk.set(entries, (sectors - 1 - arraySectors) * sectorSize);
  disk.set(header(sectors - 1, 1, sectors - 1 - arraySectors), (sectors - 1) * sectorSize);
}

/** Recomputes the GPT header CRC-32 at LBA 1 after a test changed a header field. */
export function refreshGptHeaderCrc(disk: Uint8Array, sectorSize: number): void {
  const h = disk.subarray(sectorSize, sectorSize + 92);
  const dv = new DataView(h.buffer, h.byteOffset, 92);
  dv.setUint32(16, 0, true);
  dv.setUint32(16, crc32(h), true);
}

export interface MbrEntry {
  type: number;
  start: number;
  count: number;
}

/** Writes an MBR (up to four entries) at sector `lba` of `disk`; EBRs are written the same way. */
export function writeMbr(disk: Uint8Array, lba: number, entries: MbrEntry[]): void {
  const base = lba * 512;
  const dv = new DataView(disk.buffer, disk.byteOffset, disk.byteLength);
  entries.forEach((e, i) => {
    const at = base + 446 + i * 16;
    disk[at + 4] = e.type;
    dv.setUint32(at + 8, e.start, true);
    dv.setUint32(at + 12, e.count, true);
  });
  disk[base + 510] = 0x55;
  disk[base + 511] = 0xaa;
}
