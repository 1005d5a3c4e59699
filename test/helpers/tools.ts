// Interop peers (qemu-img, 7zz, pyvhdi). Locally a missing tool skips its
// tests with a visible message; under CI=true it fails them instead.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';

export const IN_CI = process.env.CI === 'true';
export const SYSTEM_PYTHON = '/usr/bin/python3';
const PYVHDI_SCRIPT = new URL('./pyvhdi_read.py', import.meta.url).pathname;

export type Tool = 'qemu-img' | '7zz' | 'pyvhdi';

const cache = new Map<Tool, boolean>();

export function hasTool(tool: Tool): boolean {
  if (!cache.has(tool)) {
    const r =
      tool === 'pyvhdi'
        ? spawnSync(SYSTEM_PYTHON, ['-c', 'import pyvhdi'], { stdio: 'ignore' })
        : spawnSync(tool, tool === '7zz' ? ['i'] : ['--version'], { stdio: 'ignore' });
    cache.set(tool, r.status === 0);
  }
  return cache.get(tool)!;
}

/** describe() that needs `tools`: skips visibly locally, fails under CI; left out of the fast tier (npm run test:unit). */
export function describeWith(tools: Tool[], title: string, body: () => void): void {
  if (process.env.VHDX_TEST_TIER === 'unit') {
    describe.skip(title, body);
    return;
  }
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) {
    describe(title, body);
    return;
  }
  if (IN_CI) {
    describe(title, () => {
      it(`has ${missing.join(', ')} installed (required under CI)`, () => {
        throw new Error(`interop peer missing under CI: ${missing.join(', ')}`);
      });
    });
    return;
  }
  console.warn(`[interop] skipping "${title}": ${missing.join(', ')} not installed`);
  describe.skip(title, body);
}

export function tempDir(prefix = 'vhdx-test-'): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A scratch folder for the suite this is called in (a describe body, or a file's top level): named now,
 * made by the suite's first beforeAll and removed by its afterAll. A suite that is skipped (a tool or
 * runtime missing) runs no hooks, so it leaves no empty folder behind, as tempDir would.
 */
export function suiteDir(prefix: string): { readonly path: string } {
  const path = join(tmpdir(), `${prefix}${randomBytes(6).toString('hex')}`);
  beforeAll(() => mkdirSync(path));
  afterAll(() => rmSync(path, { recursive: true, force: true }));
  return { path };
}

export function run(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function qemuInfo(file: string): { 'virtual-size': number; 'cluster-size'?: number; format: string } {
  return JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' }));
}

/** SHA-256 of a file, streamed. */
export function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 of what `7zz e -so -tvhdx` extracts from a VHDX (the disk: without -tvhdx, a partitioned disk's partitions). */
export function sevenZipSha256(file: string): { status: number; sha256: string; length: number; stderr: string } {
  const r = spawnSync('7zz', ['e', '-so', '-tvhdx', file], { maxBuffer: 2 * 1024 * 1024 * 1024 });
  return { status: r.status ?? -1, sha256: sha256(r.stdout), length: r.stdout.length, stderr: String(r.stderr) };
}

export interface PyvhdiView {
  mediaSize: number;
  bytesPerSector: number;
  diskType: number;
  bytesRead: number;
  sha256: string;
}

/** What libvhdi reads from `file`; with `parents` (nearest first), from the chain they form. */
export function pyvhdiRead(file: string, ...parents: string[]): PyvhdiView {
  return JSON.parse(execFileSync(SYSTEM_PYTHON, [PYVHDI_SCRIPT, file, ...parents], { encoding: 'utf8' }));
}
