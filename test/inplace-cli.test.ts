// The in-place commands on the command line (src/cli/inplace.ts): compact
// (with --dry-run and --json), and their refusals with the exit-code table.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
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

describeWith(['qemu-img'], 'vhdx compact killed mid-run (SIGKILL)', () => {
  // 640 MiB in 1 MiB blocks, each block's bytes its own; 256 of the first 320 blocks then
  // overwritten with zeros (they keep their space), so compact frees them and moves the
  // 256 MiB of blocks past the packed size into the holes
  const BLOCKS = 640;
  const zeroed = (b: number) => b < 320 && b % 5 !== 0;

  it('check -r all exits 0 and the disk reads the same; a rerun finishes with the same disk, qemu-img check clean', async () => {
    const raw = join(dir.path, 'kill.raw');
    const orig = join(dir.path, 'kill-orig.vhdx');
    const fd = openSync(raw, 'w');
    const block = new Uint32Array(MiB / 4);
    for (let b = 0; b < BLOCKS; b++) {
      for (let i = 0; i < block.length; i++) block[i] = ((b * block.length + i) * 2654435761) >>> 0 || 1;
      writeSync(fd, new Uint8Array(block.buffer));
    }
    closeSync(fd);
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=1M,subformat=dynamic', raw, orig]);
    const zeros: string[] = [];
    const rawFd = openSync(raw, 'r+');
    for (let b = 0; b < BLOCKS; b++) {
      if (!zeroed(b)) continue;
      zeros.push('-c', `write -q -P 0 ${b}M 1M`);
      writeSync(rawFd, new Uint8Array(MiB), 0, MiB, b * MiB);
    }
    closeSync(rawFd);
    execFileSync('qemu-io', ['-f', 'vhdx', ...zeros, orig]);
    const sameDisk = (path: string, where: string) => {
      const r = spawnSync('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'raw', path, raw]);
      expect(r.status, `${where}: qemu-img compare ${String(r.stdout)}${String(r.stderr)}`).toBe(0);
    };
    sameDisk(orig, 'before');
    const origSize = statSync(orig).size;
    const scanMiB = BLOCKS; // compact's progress: every allocated block scanned, then the moves
    const path = join(dir.path, 'kill.vhdx');
    let midRun = 0;
    // how far into the moves to kill it: later first, earlier when the run ended before the kill
    for (const fraction of [0.3, 0.1, 0, 0]) {
      copyFileSync(orig, path);
      const child = spawn(process.execPath, [BIN, 'compact', path, '--progress'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let killedAt: string | undefined;
      child.stderr.on('data', (chunk: Buffer) => {
        const last = [...String(chunk).matchAll(/(\d+)\/(\d+) MiB/g)].pop();
        if (!last || killedAt) return;
        const done = Number(last[1]);
        const moves = Number(last[2]) - scanMiB;
        if (moves > 0 && done > scanMiB + fraction * moves) {
          killedAt = `${done}/${last[2]} MiB`;
          child.kill('SIGKILL');
        }
      });
      const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.on('close', (code, signal) => resolve({ code, signal })),
      );
      const where = killedAt ? `killed at ${killedAt}` : 'not killed';
      if (exit.signal === 'SIGKILL') {
        midRun++;
        expect(statSync(path).size, where).toBeLessThanOrEqual(origSize);
        const repair = vhdx(['check', '-r', 'all', path]);
        expect(repair.status, `${where}: ${repair.text}${repair.stderr}`).toBe(0);
        sameDisk(path, `${where}, repaired`);
        const rerun = vhdx(['compact', path]);
        expect(rerun.status, `${where}: ${rerun.stderr}`).toBe(0);
      } else expect(exit.code, `${where}: the run ended by itself`).toBe(0);
      sameDisk(path, `${where}, compacted`);
      execFileSync('qemu-img', ['check', '-q', '-f', 'vhdx', path]);
      // the data blocks packed: within a block of the structures plus 384 MiB
      expect(statSync(path).size, where).toBeLessThan((BLOCKS - 256 + 16) * MiB);
      if (midRun > 0) break;
    }
    expect(midRun, 'at least one run was killed while moving blocks').toBeGreaterThan(0);
  }, 600_000);
});
