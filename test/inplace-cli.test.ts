// The in-place commands on the command line (src/cli/inplace.ts): compact
// (with --dry-run and --json), and their refusals with the exit-code table.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildSynthetic } from './helpers/synthetic.js';
import { describeWith, tempDir } from './helpers/tools.js';
import { oneLine } from './helpers/cli-lines.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const dir = tempDir('vhdx-inplace-cli-');
afterAll(() => dir.cleanup());

function vhdx(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir.path, timeout: 60_000 });
  return { status: r.status, text: String(r.stdout), stderr: String(r.stderr) };
}

describeWith(['qemu-img'], 'vhdx compact', () => {
  it('--dry-run writes nothing and says what compact then reclaims; qemu-img compare identical, check clean', () => {
    const path = join(dir.path, 'c.vhdx');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', path, '64M']);
    // data, then zeros written over part of it (blocks holding only zeros), then data at the end
    execFileSync('qemu-io', ['-f', 'vhdx', '-c', 'write -P 7 0 24M', '-c', 'write -P 0 4M 12M', '-c', 'write -P 9 40M 4M', path]);
    const orig = join(dir.path, 'c-orig.vhdx');
    writeFileSync(orig, readFileSync(path));
    const dry = vhdx(['compact', path, '--dry-run', '--json']);
    expect(dry.status, dry.stderr).toBe(0);
    const planned = JSON.parse(dry.text);
    expect(Buffer.compare(readFileSync(path), readFileSync(orig))).toBe(0);
    expect(planned).toMatchObject({ dryRun: true, zeroBlocks: 12 });
    const run = vhdx(['compact', path]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.text).toContain(`reclaimed ${planned.reclaimedBytes} bytes`);
    expect(statSync(path).size).toBe(planned.fileSizeAfter);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'vhdx', orig, path]);
    execFileSync('qemu-img', ['check', '-q', '-f', 'vhdx', path]);
  });

  it('a fixed disk: exit 2 (USAGE) with a pointer to convert --type dynamic, the file unchanged', () => {
    const path = join(dir.path, 'fixed.vhdx');
    const bytes = buildSynthetic({ raw: new Uint8Array(2 * MiB).fill(3), fixed: true });
    writeFileSync(path, bytes);
    const r = vhdx(['compact', path]);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr, 'USAGE')).toContain('--type dynamic');
    expect(Buffer.compare(readFileSync(path), bytes)).toBe(0);
  });

  it('--help describes it; a second file is a usage error', () => {
    expect(vhdx(['compact', '--help']).text).toContain('Usage: vhdx compact <file>');
    expect(vhdx(['compact', 'a.vhdx', 'b.vhdx']).status).toBe(2);
  });
});

describeWith(['qemu-img'], 'vhdx resize', () => {
  it('SIZE, +SIZE and -SIZE --shrink; qemu-img info gives each size and check stays clean', () => {
    const path = join(dir.path, 'r.vhdx');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', path, '64M']);
    execFileSync('qemu-io', ['-f', 'vhdx', '-c', 'write -P 5 0 8M', path]);
    const orig = join(dir.path, 'r-orig.vhdx');
    writeFileSync(orig, readFileSync(path));
    const size = () => JSON.parse(execFileSync('qemu-img', ['info', '--output=json', path]).toString())['virtual-size'];
    for (const [args, want] of [
      [['100M'], 100 * MiB],
      [['+28M'], 128 * MiB],
      [['-112M', '--shrink'], 16 * MiB],
    ] as const) {
      const r = vhdx(['resize', path, ...args]);
      expect(r.status, r.stderr).toBe(0);
      expect(size()).toBe(want);
      execFileSync('qemu-img', ['check', '-q', '-f', 'vhdx', path]);
    }
    execFileSync('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'vhdx', orig, path]);
  });

  it('smaller without --shrink, or over data: exit 2 naming what is wrong, the file unchanged', () => {
    const path = join(dir.path, 'r2.vhdx');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', path, '16M']);
    execFileSync('qemu-io', ['-f', 'vhdx', '-c', 'write -P 5 0 8M', path]);
    const before = readFileSync(path);
    const no = vhdx(['resize', path, '-1M']);
    expect(no.status).toBe(2);
    expect(oneLine(no.stderr, 'USAGE')).toContain('add --shrink');
    const data = vhdx(['resize', path, '4M', '--shrink']);
    expect(data.status).toBe(2);
    expect(oneLine(data.stderr, 'USAGE')).toContain(`hold ${4 * MiB} bytes of data`);
    expect(Buffer.compare(readFileSync(path), before)).toBe(0);
    expect(vhdx(['resize', path]).status).toBe(2);
  });
});

it('vhdx set-parent: --parent is needed, --help describes it', () => {
  const r = vhdx(['set-parent', 'child.avhdx']);
  expect(r.status).toBe(2);
  expect(oneLine(r.stderr, 'USAGE')).toContain('--parent PATH');
  expect(vhdx(['set-parent', '--help']).text).toContain('Usage: vhdx set-parent <child> --parent <path>');
});

it('vhdx commit CHILD -d: the parent reads as the chain did, the child is removed', async () => {
  const node = await import('../src/node/index.js');
  const base = join(dir.path, 'cbase.vhdx');
  writeFileSync(base, buildSynthetic({ raw: new Uint8Array(4 * MiB).fill(5), blockSize: MiB }));
  const child = join(dir.path, 'cchild.avhdx');
  await node.createChildFile(child, base);
  const image = await node.openVhdx(child, { writable: true });
  await image.write(MiB + 512, new Uint8Array(4096).fill(9));
  const disk = await image.read(0, 4 * MiB);
  await image.close();
  const r = vhdx(['commit', child, '-d']);
  expect(r.status, r.stderr).toBe(0);
  expect(r.text).toContain('1 blocks committed');
  const after = await node.openVhdx(base);
  expect(Buffer.compare(await after.read(0, 4 * MiB), disk)).toBe(0);
  await after.close();
  expect(vhdx(['commit', '--help']).text).toContain('Usage: vhdx commit <child>');
});

it('the in-place commands need a file: - (stdin) and a URL are usage errors saying so', () => {
  for (const args of [
    ['compact', '-'],
    ['compact', '-', '--dry-run'],
    ['resize', '-', '10M'],
    ['set-parent', '-', '--parent', 'p.vhdx'],
    ['commit', '-'],
    ['commit', 'http://example.invalid/c.avhdx'],
    ['check', '-r', 'all', '-'],
  ]) {
    const r = vhdx(args);
    expect(r.status, args.join(' ')).toBe(2);
    expect(oneLine(r.stderr, 'USAGE'), args.join(' ')).toContain('changes a file in place: name the file, not - or a URL');
  }
});

it('vhdx set-parent X --parent X: a usage error (the child cannot be its own parent), the file unchanged', async () => {
  const node = await import('../src/node/index.js');
  const base = join(dir.path, 'sbase.vhdx');
  writeFileSync(base, buildSynthetic({ raw: new Uint8Array(4 * MiB).fill(5), blockSize: MiB }));
  const child = join(dir.path, 'self.avhdx');
  await node.createChildFile(child, base);
  const before = readFileSync(child);
  const r = vhdx(['set-parent', child, '--parent', child]);
  expect(r.status).toBe(2);
  expect(oneLine(r.stderr, 'USAGE')).toContain('is the child itself');
  expect(Buffer.compare(readFileSync(child), before)).toBe(0);
});
