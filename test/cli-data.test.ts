// The data side of the command line and of the Node entry's file outputs
// (issue 13): the output format is never a surprise, an existing file is never
// lost, every input streams with bounded memory, and one --size rule holds on
// every route. Each describe names the findings of the issue it shows fixed.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  linkSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsync, serveFiles, type FileServer } from './helpers/file-server.js';
import { hasVhdxSignature } from '../src/format/identifier.js';
import { VhdxWriterStream, convertRawFileToVhdx, convertVhdxFileToRaw, openVhdx } from '../src/node/index.js';
import { ready } from '../src/wasm/instance.js';
import { makeRaw } from './helpers/images.js';
import { sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const DIST = (path: string) => JSON.stringify(new URL(`../dist/${path}`, import.meta.url).href);
const dir = tempDir('vhdx-cli-data-');
chmodSync(dir.path, 0o777); // world-writable, as the unprivileged tests need (no sticky bit)
const raw = makeRaw(6 * MiB + 512, 'mixed', 31);
const rawPath = join(dir.path, 'disk.raw');
writeFileSync(rawPath, raw);
const vhdxPath = join(dir.path, 'disk.vhdx');
afterAll(() => dir.cleanup());

interface Result {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

function vhdx(args: string[], input?: Uint8Array, options: SpawnSyncOptions = {}): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 256 * MiB, cwd: dir.path, ...options });
  return { status: r.status, stdout: r.stdout as Buffer, stderr: String(r.stderr) };
}

/** Runs a bash command line in the test directory (for process substitution and FIFOs). */
function bash(command: string): Result {
  const r = spawnSync('bash', ['-c', command], {
    cwd: dir.path,
    maxBuffer: 256 * MiB,
    env: { ...process.env, VHDX: `${process.execPath} ${BIN}` },
  });
  return { status: r.status, stdout: r.stdout, stderr: String(r.stderr) };
}

function usageError(r: Result, text?: RegExp, code = 'USAGE'): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`^vhdx: error\\[${code}\\]: `));
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  if (text) expect(r.stderr).toMatch(text);
}

/** The disk of a VHDX file, read back through the command. */
function diskOf(path: string): Buffer {
  const r = vhdx(['convert', path, '-', '--to', 'raw']);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const isVhdx = (path: string) => hasVhdxSignature(readFileSync(path).subarray(0, 8));
const partials = () => readdirSync(dir.path).filter((f) => f.includes('.partial-'));

let server: FileServer;
let base = '';
beforeAll(async () => {
  await ready();
  expect(vhdx(['convert', rawPath, vhdxPath, '--block-size', '1M']).status).toBe(0);
  const files = new Map<string, Uint8Array>([
    ['/disk.raw', raw],
    ['/odd.raw', raw.subarray(0, 5 * MiB + 1000)],
    ['/disk.vhdx', readFileSync(vhdxPath)],
    ['/cut.vhdx', readFileSync(vhdxPath).subarray(0, 3 * MiB)],
  ]);
  server = await serveFiles(files);
  base = server.base;
});
afterAll(() => server.close());

/** Runs the command in the background (an HTTP input is served by this process). */
const vhdxAsync = (args: string[]): Promise<Result> => runAsync(BIN, args, dir.path);

describe('the output format is -O, else the output name, else the other format', () => {
  it('--to raw on a raw input makes a raw copy (from a file, stdin and a URL), sparse in a file', async () => {
    const out = join(dir.path, 'copy.raw');
    let r = vhdx(['convert', rawPath, out, '--to', 'raw']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(raw));
    expect(statSync(out).blocks * 512).toBeLessThan(raw.length); // holes where the disk is zero
    r = vhdx(['convert', '-', out, '--to', 'raw'], raw);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(raw));
    r = vhdx(['convert', '-', '-', '--to', 'raw'], raw);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(raw));
    r = await vhdxAsync(['convert', `${base}/disk.raw`, out, '--to', 'raw']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(raw));
  });

  it('a .vhdx name makes a VHDX from a VHDX (re-encoded), a .raw/.img/.bin name a raw disk', () => {
    const b = join(dir.path, 'named-b.vhdx');
    expect(vhdx(['convert', vhdxPath, b]).status).toBe(0);
    expect(isVhdx(b)).toBe(true);
    expect(sha256(diskOf(b))).toBe(sha256(raw));
    for (const name of ['named.raw', 'named.img', 'named.bin', 'NAMED.IMG']) {
      const out = join(dir.path, name);
      expect(vhdx(['convert', rawPath, out]).status).toBe(0);
      expect(sha256(readFileSync(out)), name).toBe(sha256(raw));
    }
    const avhdx = join(dir.path, 'named.avhdx');
    expect(vhdx(['convert', rawPath, avhdx]).status).toBe(0);
    expect(isVhdx(avhdx)).toBe(true);
    // a file name that says nothing is not guessed: -O says (test/cli-habits.test.ts)
    const plain = join(dir.path, 'named-plain');
    expect(vhdx(['convert', rawPath, plain]).status).toBe(2);
    expect(vhdx(['convert', rawPath, plain, '-O', 'vhdx']).status).toBe(0);
    expect(isVhdx(plain)).toBe(true);
  });

  it('an existing keep.raw is replaced by a raw copy, and same.raw onto itself stays raw', () => {
    const keep = join(dir.path, 'keep.raw');
    writeFileSync(keep, 'old');
    const rand = join(dir.path, 'rand.bin');
    writeFileSync(rand, makeRaw(2 * MiB, 'data', 5));
    expect(vhdx(['convert', rand, keep]).status).toBe(0);
    expect(sha256(readFileSync(keep))).toBe(sha256(readFileSync(rand)));
    const same = join(dir.path, 'same.raw');
    writeFileSync(same, raw);
    const r = vhdx(['convert', same, same]);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(readFileSync(same))).toBe(sha256(raw));
  });

  it('a name that contradicts -O/--to is a usage error before any work (input not even opened)', () => {
    const existing = join(dir.path, 'contradicted.vhdx');
    writeFileSync(existing, 'untouched');
    usageError(vhdx(['convert', rawPath, existing, '--to', 'raw']), /contradicted\.vhdx/);
    usageError(vhdx(['convert', join(dir.path, 'missing.raw'), existing, '--to', 'raw']));
    usageError(vhdx(['convert', vhdxPath, join(dir.path, 'x.raw'), '--to', 'vhdx']));
    expect(readFileSync(existing, 'utf8')).toBe('untouched');
    expect(existsSync(join(dir.path, 'x.raw'))).toBe(false);
    expect(partials()).toEqual([]);
  });

  it('-f forces how the input is read (raw: a VHDX file is wrapped as a disk; vhdx: a raw file is refused)', async () => {
    // the command line run in this process: main() is what bin/vhdx.js runs
    const { main } = await import('../src/cli/main.js');
    const wrapped = join(dir.path, 'wrapped.vhdx');
    expect(await main(['convert', vhdxPath, wrapped, '-f', 'raw', '-q'])).toBe(0);
    const image = await openVhdx(wrapped);
    const disk = await image.read(0, statSync(vhdxPath).size);
    await image.close();
    expect(sha256(disk)).toBe(sha256(readFileSync(vhdxPath)));
    expect(await main(['convert', rawPath, join(dir.path, 'forced.raw'), '-f', 'vhdx', '-q'])).toBe(1); // NOT_VHDX
    expect(existsSync(join(dir.path, 'forced.raw'))).toBe(false);
  });
});

describe('an existing file is never lost', () => {
  it('convertRawFileToVhdx and convertVhdxFileToRaw leave an existing output as it was when they fail', async () => {
    const existing = join(dir.path, 'existing.vhdx');
    writeFileSync(existing, 'precious');
    const onProgress = () => {
      throw new Error('stop');
    };
    await expect(convertRawFileToVhdx(rawPath, existing, { onProgress })).rejects.toThrow('stop');
    expect(readFileSync(existing, 'utf8')).toBe('precious');
    const existingRaw = join(dir.path, 'existing.raw');
    writeFileSync(existingRaw, 'precious');
    await expect(convertVhdxFileToRaw(vhdxPath, existingRaw, { onProgress })).rejects.toThrow('stop');
    expect(readFileSync(existingRaw, 'utf8')).toBe('precious');
    expect(partials()).toEqual([]);
    // and a success replaces it
    await convertVhdxFileToRaw(vhdxPath, existingRaw);
    expect(sha256(readFileSync(existingRaw))).toBe(sha256(raw));
  });

  it('VhdxWriterStream(path) over an existing VHDX, its source failing after 20 MiB, leaves it as it was', async () => {
    const existing = join(dir.path, 'writer-existing.vhdx');
    writeFileSync(existing, readFileSync(vhdxPath));
    const before = sha256(readFileSync(existing));
    let sent = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 20) c.enqueue(makeRaw(MiB, 'data', sent));
        else c.error(new Error('source died'));
      },
    });
    await expect(source.pipeTo(new VhdxWriterStream(existing, { blockSize: MiB, virtualSize: 64 * MiB }))).rejects.toThrow('source died');
    expect(sha256(readFileSync(existing))).toBe(before);
    expect(partials()).toEqual([]);
    // an aborted writer as well
    const sink = new VhdxWriterStream(existing, { blockSize: MiB });
    const writer = sink.getWriter();
    await writer.write(makeRaw(3 * MiB, 'data', 9));
    await writer.abort(new Error('changed my mind'));
    expect(sha256(readFileSync(existing))).toBe(before);
    expect(partials()).toEqual([]);
  });

  it('the command leaves an existing output as it was when the input fails part-way (as it did before)', () => {
    const existing = join(dir.path, 'kept.vhdx');
    writeFileSync(existing, 'precious');
    const cut = join(dir.path, 'cut-input.vhdx');
    writeFileSync(cut, readFileSync(vhdxPath).subarray(0, 3 * MiB));
    for (const args of [
      [cut, existing, '--to', 'vhdx'],
      ['-', existing, '--to', 'vhdx'],
    ]) {
      const r = vhdx(['convert', ...args], args[0] === '-' ? readFileSync(cut) : undefined);
      expect(r.status).not.toBe(0);
      expect(readFileSync(existing, 'utf8')).toBe('precious');
    }
    expect(partials()).toEqual([]);
  });

  // needs root and setpriv (util-linux) to act as another user; under CI both must be there
  const asRoot = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  it.skipIf(!asRoot && process.env.CI !== 'true')(
    'finding 4: as another user, a 0444 file of someone else is refused ("Permission denied") and left as it was',
    () => {
      const input = join(dir.path, 'for-nobody.raw');
      writeFileSync(input, raw.subarray(0, MiB));
      chmodSync(input, 0o644);
      const ro = join(dir.path, 'ro.vhdx');
      writeFileSync(ro, 'read only');
      chmodSync(ro, 0o444);
      const asNobody = (args: string[]) =>
        spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args], {
          cwd: dir.path,
          encoding: 'utf8',
        });
      for (const out of [ro, 'ro.vhdx']) {
        const r = asNobody(['convert', input, out]);
        expect(r.status, r.stderr).not.toBe(0);
        expect(r.stderr).toMatch(/^vhdx: error\[IO\]: .*Permission denied/);
        expect(readFileSync(ro, 'utf8')).toBe('read only');
        expect(statSync(ro).uid).toBe(0);
      }
      // and a file of their own that they may write is replaced
      const own = join(dir.path, 'own.vhdx');
      writeFileSync(own, 'mine');
      chownSync(own, 65534, 65534);
      const r = asNobody(['convert', input, own]);
      expect(r.status, r.stderr).toBe(0);
      expect(isVhdx(own)).toBe(true);
      expect(statSync(own).uid).toBe(65534);
      expect(partials()).toEqual([]);
    },
  );

  it('a replaced file keeps its mode and owner; a file with two hard links is written in place, not split', () => {
    const secret = join(dir.path, 'secret.vhdx');
    writeFileSync(secret, 'old');
    chmodSync(secret, 0o600);
    if (process.getuid?.() === 0) chownSync(secret, 65534, 65534);
    const owner = statSync(secret);
    expect(vhdx(['convert', rawPath, secret]).status).toBe(0);
    expect(isVhdx(secret)).toBe(true);
    expect(statSync(secret).mode & 0o7777).toBe(0o600);
    expect([statSync(secret).uid, statSync(secret).gid]).toEqual([owner.uid, owner.gid]);
    const linked = join(dir.path, 'linked.vhdx');
    const other = join(dir.path, 'linked-other-name.vhdx');
    writeFileSync(linked, 'old');
    linkSync(linked, other);
    expect(vhdx(['convert', rawPath, linked]).status).toBe(0);
    expect(statSync(linked).ino).toBe(statSync(other).ino);
    expect(statSync(other).nlink).toBe(2);
    expect(sha256(diskOf(other))).toBe(sha256(raw));
    // written in place, a file must not be the input under its other name
    const input = join(dir.path, 'linked-input.raw');
    writeFileSync(input, raw);
    linkSync(input, join(dir.path, 'linked-input-2.raw'));
    const r = vhdx(['convert', input, join(dir.path, 'linked-input-2.raw')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/error\[USAGE\]: .*is the input/);
    expect(sha256(readFileSync(input))).toBe(sha256(raw));
  });

  it('an empty output name is a usage error before any work', () => {
    const before = readdirSync(dir.path).sort();
    usageError(vhdx(['convert', rawPath, '']), /output/);
    expect(readdirSync(dir.path).sort()).toEqual(before);
  });

  it('a 1000-byte raw becomes a 1024-byte disk, with a one-line notice', () => {
    const small = join(dir.path, 'small-1000.raw');
    writeFileSync(small, makeRaw(1000, 'data', 2));
    const out = join(dir.path, 'small-1000.vhdx');
    const r = vhdx(['convert', small, out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^vhdx: note: .*1000 bytes.*rounded up to 1024 bytes/);
    expect(diskOf(out).length).toBe(1024);
    const quiet = vhdx(['convert', small, out, '-q']);
    expect(quiet.status, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});

describe('every input streams with bounded memory', () => {
  it('FIFO inputs (process substitution, /dev/stdin, a named FIFO) convert as - does', () => {
    for (const [name, command] of [
      ['process substitution', '$VHDX convert <(cat disk.raw) fifo-a.vhdx'],
      ['/dev/stdin', 'cat disk.raw | $VHDX convert /dev/stdin fifo-b.vhdx'],
      ['a named FIFO', 'mkfifo in.fifo && (cat disk.raw > in.fifo &) && $VHDX convert in.fifo fifo-c.vhdx'],
      ['a VHDX through a FIFO', '$VHDX convert <(cat disk.vhdx) fifo-d.raw'],
    ] as const) {
      const r = bash(command);
      expect(r.status, `${name}: ${r.stderr}`).toBe(0);
    }
    for (const f of ['fifo-a.vhdx', 'fifo-b.vhdx', 'fifo-c.vhdx']) expect(sha256(diskOf(join(dir.path, f))), f).toBe(sha256(raw));
    expect(sha256(readFileSync(join(dir.path, 'fifo-d.raw')))).toBe(sha256(raw));
  });

  it('a FIFO output is written in order, and /dev/null takes any output', () => {
    const r = bash('mkfifo out.fifo && (cat out.fifo > from-fifo.raw &) && $VHDX convert disk.vhdx out.fifo && wait');
    expect(r.status, r.stderr).toBe(0);
    for (let i = 0; i < 100 && readFileSync(join(dir.path, 'from-fifo.raw')).length < raw.length; i++) spawnSync('sleep', ['0.05']);
    expect(sha256(readFileSync(join(dir.path, 'from-fifo.raw')))).toBe(sha256(raw));
    for (const args of [
      [rawPath, '/dev/null'],
      [vhdxPath, '/dev/null'],
      [rawPath, '/dev/null', '--to', 'raw'],
      [vhdxPath, '/dev/null', '--to', 'vhdx'],
    ]) {
      const d = vhdx(['convert', ...args]);
      expect(d.status, `${args.join(' ')}: ${d.stderr}`).toBe(0);
    }
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('a VHDX on stdin becomes a VHDX with bounded memory (one pass, never held whole)', () => {
    const bigRaw = join(dir.path, 'rss.raw');
    const fd = openSync(bigRaw, 'w');
    const pattern = makeRaw(4 * MiB, 'data', 17);
    for (let i = 0; i < 48; i++) writeSync(fd, pattern); // 192 MiB of data
    closeSync(fd);
    const bigVhdx = join(dir.path, 'rss.vhdx');
    expect(vhdx(['convert', bigRaw, bigVhdx]).status).toBe(0);
    // the peak RSS of the command itself, as the process sees it at exit
    const wrapper = join(dir.path, 'rss-wrapper.mjs');
    writeFileSync(
      wrapper,
      `process.on('exit', () => process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n'));\nawait import(${JSON.stringify(new URL(`file://${BIN}`).href)});\n`,
    );
    const out = join(dir.path, 'rss-out.vhdx');
    const r = spawnSync(
      'sh',
      ['-c', `cat rss.vhdx | "${process.execPath}" rss-wrapper.mjs convert - rss-out.vhdx --to vhdx --block-size 1M`],
      {
        cwd: dir.path,
        encoding: 'utf8',
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const rssMiB = Number(/maxrss (\d+)/.exec(r.stderr)![1]) / 1024;
    expect(rssMiB).toBeLessThan(150);
    expect(sha256(diskOf(out))).toBe(sha256(readFileSync(bigRaw)));
  });

  it('info and check read stdin (a pipe, streamed; a redirected file, as the file) and URLs without Range', async () => {
    const { openForReport } = await import('../src/cli/report-input.js');
    const report = (arg: string, whole: boolean, stdin: 'pipe' | number, input?: Uint8Array) => {
      const script = `const { openForReport } = await import(${DIST('cli/report-input.js')});
        const r = await openForReport(process.argv[1], { whole: process.argv[2] === 'whole' });
        console.log(JSON.stringify({ virtualSize: r.info?.virtualSize, reasons: r.problems.map((p) => p.reason), access: r.access }));`;
      const res = spawnSync(process.execPath, ['--input-type=module', '-e', script, arg, whole ? 'whole' : 'part'], {
        stdio: [stdin, 'pipe', 'pipe'],
        input,
        encoding: 'utf8',
      });
      expect(res.status, res.stderr).toBe(0);
      return JSON.parse(res.stdout);
    };
    const bytes = readFileSync(vhdxPath);
    expect(report('-', true, 'pipe', bytes)).toEqual({ virtualSize: raw.length, reasons: [], access: 'stream' });
    expect(report('-', false, 'pipe', bytes)).toEqual({ virtualSize: raw.length, reasons: [], access: 'stream' });
    expect(report('-', true, 'pipe', bytes.subarray(0, 3 * MiB))).toMatchObject({ reasons: [expect.any(String)], access: 'stream' });
    const fd = openSync(vhdxPath, 'r');
    try {
      expect(report('-', true, fd)).toEqual({ virtualSize: raw.length, reasons: [], access: 'random' });
    } finally {
      closeSync(fd);
    }
    const viaUrl = await openForReport(`${base}/disk.vhdx?norange`);
    expect(viaUrl).toMatchObject({ access: 'stream', problems: [] });
    expect(viaUrl.info?.virtualSize).toBe(raw.length);
    const cut = await openForReport(`${base}/cut.vhdx?norange`);
    expect(cut.problems.map((p) => p.code)).toEqual(['TRUNCATED']);
    expect((await openForReport(`${base}/disk.vhdx`)).access).toBe('random');
    const image = await openVhdx(new URL(`file://${vhdxPath}`));
    expect(image.info.virtualSize).toBe(raw.length);
    await image.close();
  });

  it('a VHDX URL without Range re-encodes by streaming', async () => {
    const out = join(dir.path, 'from-norange.vhdx');
    const r = await vhdxAsync(['convert', `${base}/disk.vhdx?norange`, out, '--to', 'vhdx']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(diskOf(out))).toBe(sha256(raw));
  });

  it('a regular file on stdout gets holes where the disk is zero, both directions', () => {
    const sparse = new Uint8Array(64 * MiB);
    sparse.set(makeRaw(MiB, 'data', 4), 10 * MiB);
    const vhdxOut = join(dir.path, 'stdout-sparse.vhdx');
    let fd = openSync(vhdxOut, 'w');
    let r = spawnSync(process.execPath, [BIN, 'convert', '-', '-', '--size', String(64 * MiB)], {
      input: sparse,
      stdio: ['pipe', fd, 'pipe'],
    });
    closeSync(fd);
    expect(r.status, String(r.stderr)).toBe(0);
    expect(statSync(vhdxOut).size).toBeGreaterThan(64 * MiB);
    expect(statSync(vhdxOut).blocks * 512).toBeLessThan(16 * MiB);
    const rawOut = join(dir.path, 'stdout-sparse.raw');
    fd = openSync(rawOut, 'w');
    r = spawnSync(process.execPath, [BIN, 'convert', vhdxOut, '-'], { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    expect(r.status, String(r.stderr)).toBe(0);
    expect(sha256(readFileSync(rawOut))).toBe(sha256(sparse));
    expect(statSync(rawOut).blocks * 512).toBeLessThan(8 * MiB);
    // appended (>>) after earlier bytes: the same disk after them, still with holes
    fd = openSync(rawOut, 'a');
    r = spawnSync(process.execPath, [BIN, 'convert', vhdxOut, '-'], { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    expect(r.status, String(r.stderr)).toBe(0);
    const both = readFileSync(rawOut);
    expect(both.length).toBe(128 * MiB);
    expect(sha256(both.subarray(64 * MiB))).toBe(sha256(sparse));
    expect(statSync(rawOut).blocks * 512).toBeLessThan(16 * MiB);
  });
});

describe('one --size rule on every route', () => {
  const odd = raw.subarray(0, 5 * MiB + 1000);
  const oddPath = join(dir.path, 'odd.raw');
  writeFileSync(oddPath, odd);
  const larger = raw.length + 3 * MiB;

  function expectPadded(disk: Buffer, input: Uint8Array, size: number): void {
    expect(disk.length).toBe(size);
    expect(sha256(disk.subarray(0, input.length))).toBe(sha256(input));
    expect(disk.subarray(input.length).every((b) => b === 0)).toBe(true);
  }

  it('larger than the input: the rest reads as zeros, from a file, a pipe, a URL and a VHDX, to a file and to stdout', async () => {
    const out = join(dir.path, 'grown.vhdx');
    const size = ['--size', String(larger)];
    for (const [args, input] of [
      [[rawPath, out, ...size], undefined],
      [['-', out, ...size], raw],
      [['-', out, ...size, '--type', 'fixed'], raw],
      [[vhdxPath, out, '--to', 'vhdx', ...size], undefined],
      [['-', out, '--to', 'vhdx', ...size], readFileSync(vhdxPath)],
    ] as const) {
      const r = vhdx(['convert', ...args], input);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expectPadded(diskOf(out), raw, larger);
    }
    for (const [args, input] of [
      [[rawPath, '-', ...size], undefined],
      [['-', '-', ...size], raw],
      [[vhdxPath, '-', '--to', 'vhdx', ...size], undefined],
    ] as const) {
      const r = vhdx(['convert', ...args], input);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expectPadded(vhdx(['convert', '-', '-'], r.stdout).stdout, raw, larger);
    }
    const copy = join(dir.path, 'grown.raw');
    expect(vhdx(['convert', '-', copy, ...size], raw).status).toBe(0);
    expectPadded(readFileSync(copy), raw, larger);
    const r = await vhdxAsync(['convert', `${base}/disk.raw?nolength`, out, ...size]);
    expect(r.status, r.stderr).toBe(0);
    expectPadded(diskOf(out), raw, larger);
  });

  it('smaller than the input, not whole sectors, or with VHDX -> raw: a usage error, on every route', () => {
    const out = join(dir.path, 'refused.vhdx');
    const smaller = ['--size', String(raw.length - 512)];
    for (const [args, input] of [
      [[rawPath, out, ...smaller], undefined],
      [[rawPath, '-', ...smaller], undefined],
      [['-', out, ...smaller], raw],
      [['-', '-', ...smaller], raw],
      [[vhdxPath, out, '--to', 'vhdx', ...smaller], undefined],
      [[rawPath, join(dir.path, 'refused.raw'), ...smaller], undefined],
      [['-', join(dir.path, 'refused.raw'), ...smaller], raw],
    ] as const) {
      // the library's input-too-long (exit 2, as a usage error), worded with --size as typed
      usageError(vhdx(['convert', ...args], input), new RegExp(`--size ${raw.length - 512} is smaller than the input`), 'USAGE');
    }
    usageError(vhdx(['convert', rawPath, out, '--size', String(larger + 100)]), new RegExp(`nearest is ${larger}\\b`));
    usageError(vhdx(['convert', '-', '-', '--size', '1000'], raw), /nearest is 1024/);
    // a multiple of 512 that is not one of the 4096-byte sectors asked for
    usageError(vhdx(['convert', rawPath, out, '--size', String(larger), '--logical-sector-size', '4096']), /nearest is 9437184\b/);
    usageError(vhdx(['convert', vhdxPath, join(dir.path, 'refused2.raw'), '--size', String(larger)]), /VHDX -> raw/);
    usageError(vhdx(['convert', '-', '-', '--to', 'raw', '--size', String(larger)], readFileSync(vhdxPath)), /VHDX -> raw/);
    expect(existsSync(out)).toBe(false);
    expect(partials()).toEqual([]);
  });

  it('an input that is not whole sectors is rounded up with a one-line notice, on every route', async () => {
    const rounded = 5 * MiB + 1024;
    const out = join(dir.path, 'rounded.vhdx');
    const note = (r: Result) => {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^vhdx: note: .*rounded up to 5243904 bytes/);
    };
    const fromFile = () => diskOf(out);
    const fromVhdxStdout = (r: Result) => vhdx(['convert', '-', '-'], r.stdout).stdout;
    const roundedRaw = join(dir.path, 'rounded.raw');
    for (const [args, input, disk] of [
      [[oddPath, out], undefined, fromFile],
      [['-', out], odd, fromFile],
      [[oddPath, '-'], undefined, fromVhdxStdout],
      [['-', '-', '--to', 'raw'], odd, (r: Result) => r.stdout],
      [[oddPath, roundedRaw], undefined, () => readFileSync(roundedRaw)],
      [['-', roundedRaw], odd, () => readFileSync(roundedRaw)],
    ] as const) {
      const r = vhdx(['convert', ...args], input);
      note(r);
      expectPadded(disk(r), odd, rounded);
    }
    const r = await vhdxAsync(['convert', `${base}/odd.raw?nolength`, out]);
    note(r);
    expectPadded(diskOf(out), odd, rounded);
  });

  it('stdin that is a regular file has a known size (no --size needed), and a raw stream that is not whole sectors goes from a pipe to stdout', () => {
    const fd = openSync(rawPath, 'r');
    const r = spawnSync(process.execPath, [BIN, 'convert', '-', '-'], { stdio: [fd, 'pipe', 'pipe'], maxBuffer: 256 * MiB });
    closeSync(fd);
    expect(r.status, String(r.stderr)).toBe(0);
    expect(sha256(vhdx(['convert', '-', '-'], r.stdout).stdout)).toBe(sha256(raw));
    const piped = vhdx(['convert', '-', '-', '--size', String(5 * MiB + 1024)], odd);
    expect(piped.status, piped.stderr).toBe(0);
    expectPadded(vhdx(['convert', '-', '-'], piped.stdout).stdout, odd, 5 * MiB + 1024);
  });
});

describe('the temporary name', () => {
  it('is documented in the README: .NAME.partial- and 8 hex digits beside the output', () => {
    const doc = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(doc).toContain('.NAME.partial-XXXXXXXX');
  });
});
