// The `vhdx` command, run as a subprocess: every command, pipes, HTTP inputs,
// exit codes, one-line errors and removal of partial output.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsync, serveFiles, type FileServer } from './helpers/file-server.js';
import { makeRaw } from './helpers/images.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { describeWith, run, sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const dir = tempDir('vhdx-cli-');
const raw = makeRaw(20 * MiB + 1024, 'mixed', 21);
const rawPath = join(dir.path, 'disk.raw');
writeFileSync(rawPath, raw);
afterAll(() => dir.cleanup());

function vhdx(args: string[], input?: Uint8Array) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 256 * MiB, cwd: dir.path });
  return { status: r.status, stdout: r.stdout as Buffer, stderr: String(r.stderr) };
}

function oneLineError(stderr: string, code: string) {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^vhdx: error\\[${code}\\]: `));
}

describe('vhdx command', () => {
  it('prints help', () => {
    const r = vhdx(['--help']);
    expect(r.status).toBe(0);
    expect(String(r.stdout)).toContain('vhdx convert <input> <output>');
  });

  it('converts raw -> VHDX -> raw through files, and the raw output is sparse', () => {
    const out = join(dir.path, 'a.vhdx');
    expect(vhdx(['convert', rawPath, out, '--block-size', '1M']).status).toBe(0);
    const back = join(dir.path, 'a.raw');
    const r = vhdx(['convert', out, back]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // no progress when stderr is not a terminal
    expect(sha256(readFileSync(back))).toBe(sha256(raw));
    expect(statSync(back).blocks * 512).toBeLessThan(raw.length);
  });

  it('pipes: stdin -> stdout both ways', () => {
    // --size larger than the input: the rest of the disk reads as zeros (one --size rule on every route)
    const enc = vhdx(['convert', '-', '-', '--size', String(raw.length + 512)], raw);
    expect(enc.status, enc.stderr).toBe(0);
    const padded = vhdx(['convert', '-', '-'], enc.stdout).stdout;
    expect(padded.length).toBe(raw.length + 512);
    expect(sha256(padded.subarray(0, raw.length))).toBe(sha256(raw));
    expect(padded.subarray(raw.length).every((b) => b === 0)).toBe(true);
    const exact = vhdx(['convert', '-', '-', '--size', String(raw.length)], raw);
    expect(exact.status, exact.stderr).toBe(0);
    const dec = vhdx(['convert', '-', '-'], exact.stdout);
    expect(dec.status, dec.stderr).toBe(0);
    expect(sha256(dec.stdout)).toBe(sha256(raw));
  });

  it('stdout that is a regular file gets the same bytes (written off the main thread), appended when opened for append', () => {
    const viaPipe = vhdx(['convert', '-', '-', '--size', String(raw.length)], raw).stdout;
    const outFile = join(dir.path, 'stdout.vhdx');
    writeFileSync(outFile, 'previous\n');
    const fd = openSync(outFile, 'a');
    const r = spawnSync(process.execPath, [BIN, 'convert', '-', '-', '--size', String(raw.length)], {
      input: raw,
      stdio: ['pipe', fd, 'pipe'],
      cwd: dir.path,
    });
    closeSync(fd);
    expect(r.status, String(r.stderr)).toBe(0);
    const written = readFileSync(outFile);
    expect(written.subarray(0, 9).toString()).toBe('previous\n');
    // GUIDs are random per run: compare everything from the metadata on, and the payload exactly
    expect(written.length - 9).toBe(viaPipe.length);
    expect(sha256(written.subarray(9 + 3 * MiB))).toBe(sha256(viaPipe.subarray(3 * MiB)));
  });

  it('stdin -> a file: sparse dynamic without --size, fixed with it, and fixed without it is a usage error', () => {
    const dyn = join(dir.path, 'from-stdin.vhdx');
    const r = vhdx(['convert', '-', dyn, '--block-size', '1M'], raw);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(String(vhdx(['info', dyn, '--json']).stdout))).toMatchObject({ type: 'dynamic', virtualSize: raw.length });
    expect(sha256(vhdx(['convert', dyn, '-']).stdout)).toBe(sha256(raw));
    const fixed = join(dir.path, 'from-stdin-fixed.vhdx');
    const f = vhdx(['convert', '-', fixed, '--type', 'fixed', '--size', String(raw.length)], raw);
    expect(f.status, f.stderr).toBe(0);
    expect(JSON.parse(String(vhdx(['info', fixed, '--json']).stdout))).toMatchObject({ type: 'fixed', virtualSize: raw.length });
    expect(sha256(vhdx(['convert', fixed, '-']).stdout)).toBe(sha256(raw));
    const bad = vhdx(['convert', '-', join(dir.path, 'nosize.vhdx'), '--type', 'fixed'], raw);
    expect(bad.status).toBe(2);
    oneLineError(bad.stderr, 'USAGE');
    expect(existsSync(join(dir.path, 'nosize.vhdx'))).toBe(false);
  });

  it('a reader that goes away (| head) ends the conversion quietly, as Unix tools do (SIGPIPE), no stack trace', async () => {
    const vhdxPath = join(dir.path, 'for-epipe.vhdx');
    expect(vhdx(['convert', rawPath, vhdxPath]).status).toBe(0);
    const child = spawn(process.execPath, [BIN, 'convert', vhdxPath, '-'], { cwd: dir.path });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy()); // read a little, then hang up
    const [status, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    expect(signal === 'SIGPIPE' || status === 141, `${status} ${signal}`).toBe(true);
    expect(stderr).toBe('');
  });

  it('a raw file that is not a whole number of sectors converts to stdout, dynamic and fixed', () => {
    const odd = join(dir.path, 'odd.raw');
    writeFileSync(odd, raw.subarray(0, 5 * MiB + 1000));
    for (const type of ['dynamic', 'fixed']) {
      const r = vhdx(['convert', odd, '-', '--type', type, '--block-size', '1M']);
      expect(r.status, r.stderr).toBe(0);
      const out = join(dir.path, `odd-${type}.vhdx`);
      writeFileSync(out, r.stdout);
      const back = vhdx(['convert', out, '-']).stdout;
      expect(back.length).toBe(5 * MiB + 1024);
      expect(sha256(back.subarray(0, 5 * MiB + 1000))).toBe(sha256(raw.subarray(0, 5 * MiB + 1000)));
      expect(back.subarray(5 * MiB + 1000).every((b) => b === 0)).toBe(true);
    }
  });

  it('raw on stdin to stdout without --size is a usage error', () => {
    const r = vhdx(['convert', '-', '-'], raw.subarray(0, MiB));
    expect(r.status).toBe(2);
    oneLineError(r.stderr, 'USAGE');
  });

  it('re-blocks VHDX -> VHDX with --to vhdx, and writes fixed and 4096-sector files', () => {
    const a = join(dir.path, 'b.vhdx');
    const b = join(dir.path, 'b2.vhdx');
    expect(vhdx(['convert', rawPath, a]).status).toBe(0);
    const r = vhdx(['convert', a, b, '--to', 'vhdx', '--block-size', '2M', '--type', 'fixed']);
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(String(vhdx(['info', b, '--json']).stdout));
    expect(info).toMatchObject({ blockSize: 2 * MiB, type: 'fixed', virtualSize: raw.length, logDirty: false });
    expect(sha256(vhdx(['convert', b, '-']).stdout)).toBe(sha256(raw));
    const c = join(dir.path, 'c.vhdx');
    expect(vhdx(['convert', rawPath, c, '--logical-sector-size', '4096', '--physical-sector-size', '4096']).status).toBe(0);
    expect(JSON.parse(String(vhdx(['info', c, '--json']).stdout)).logicalSectorSize).toBe(4096);
    expect(sha256(vhdx(['convert', c, '-']).stdout).length).toBe(64);
    // raw file -> fixed file (the pipelined path), and a larger --size
    const d = join(dir.path, 'd.vhdx');
    const big = raw.length + 3 * MiB;
    const f = vhdx(['convert', rawPath, d, '--type', 'fixed', '--block-size', '1M', '--size', String(big)]);
    expect(f.status, f.stderr).toBe(0);
    expect(JSON.parse(String(vhdx(['info', d, '--json']).stdout))).toMatchObject({ type: 'fixed', virtualSize: big, blockSize: MiB });
    const back = vhdx(['convert', d, '-']).stdout;
    expect(sha256(back.subarray(0, raw.length))).toBe(sha256(raw));
    expect(back.length).toBe(big);
    expect(back.subarray(raw.length).every((x) => x === 0)).toBe(true);
  });

  it('info --json has the stable keys; info prints a table', () => {
    const a = join(dir.path, 'i.vhdx');
    vhdx(['convert', rawPath, a]);
    const json = JSON.parse(String(vhdx(['info', a, '--json']).stdout));
    for (const k of [
      'virtualSize',
      'blockSize',
      'logicalSectorSize',
      'physicalSectorSize',
      'type',
      'logDirty',
      'creator',
      'virtualDiskId',
      'allocatedBytes',
      'regions',
    ]) {
      expect(json).toHaveProperty(k);
    }
    expect(String(vhdx(['info', a]).stdout)).toContain('virtual size:');
  });

  it('check: 0 for a good file, 3 with every problem listed for a damaged one', () => {
    const a = join(dir.path, 'k.vhdx');
    vhdx(['convert', rawPath, a]);
    expect(vhdx(['check', a]).status).toBe(0);
    const bytes = readFileSync(a);
    bytes[64 * 1024 + 200]! ^= 1; // header 1 checksum
    const d = join(dir.path, 'k-bad.vhdx');
    writeFileSync(d, bytes);
    const r = vhdx(['check', d, '--json']);
    expect(r.status).toBe(3);
    const report = JSON.parse(String(r.stdout));
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ code: 'BAD_CHECKSUM', structure: 'header 1' });
  });

  it('exit codes and one-line errors', () => {
    let r = vhdx(['convert', join(dir.path, 'missing.raw'), join(dir.path, 'x.vhdx')]);
    expect(r.status).toBe(4);
    oneLineError(r.stderr, 'IO');
    r = vhdx(['check', rawPath]);
    expect(r.status).toBe(1);
    oneLineError(r.stderr, 'NOT_VHDX');
    r = vhdx(['convert', rawPath, 'x.vhdx', '--block-size', '3M']);
    expect(r.status).toBe(2);
    oneLineError(r.stderr, 'USAGE');
    r = vhdx(['frobnicate']);
    expect(r.status).toBe(2);
    oneLineError(r.stderr, 'USAGE');
    r = vhdx(['check', rawPath, '--debug']);
    expect(r.stderr).toContain('at '); // a stack trace only with --debug
  });

  it('removes the partial output when a conversion fails', () => {
    const a = join(dir.path, 't.vhdx');
    vhdx(['convert', rawPath, a]);
    const cut = join(dir.path, 'cut.vhdx');
    writeFileSync(cut, readFileSync(a).subarray(0, 6 * MiB));
    const out = join(dir.path, 'cut.raw');
    const r = vhdx(['convert', cut, out]);
    expect(r.status).toBe(1);
    oneLineError(r.stderr, 'TRUNCATED');
    expect(existsSync(out)).toBe(false);
    const piped = vhdx(['convert', '-', out], readFileSync(cut));
    expect(piped.status).toBe(1);
    expect(existsSync(out)).toBe(false);
  });

  it('a failed conversion leaves an existing output file as it was, and no temporary file behind', () => {
    const cut = join(dir.path, 'cut2.vhdx');
    const good = join(dir.path, 't2.vhdx');
    expect(vhdx(['convert', rawPath, good]).status).toBe(0);
    writeFileSync(cut, readFileSync(good).subarray(0, 6 * MiB));
    const precious = join(dir.path, 'precious.raw');
    writeFileSync(precious, 'keep me');
    for (const args of [
      [cut, precious],
      ['-', precious],
    ]) {
      const r = vhdx(['convert', ...args], args[0] === '-' ? readFileSync(cut) : undefined);
      expect(r.status).toBe(1);
      expect(readFileSync(precious, 'utf8')).toBe('keep me');
    }
    expect(readdirSync(dir.path).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)(
    '%s during a conversion: the process dies of it, the temporary output is removed, an existing output kept',
    async (signal) => {
      const out = join(dir.path, `kept-${signal}.vhdx`);
      writeFileSync(out, 'old contents');
      // stdin fed slowly, so the conversion is surely running when the signal comes
      const child = spawn(process.execPath, [BIN, 'convert', '-', out], { cwd: dir.path, stdio: ['pipe', 'ignore', 'pipe'] });
      child.stdin.on('error', () => {}); // the kill may come before the child has read all of it (EPIPE here)
      child.stdin.write(makeRaw(8 * MiB, 'data', 3)); // and then nothing: a silent writer
      // wait (bounded) until the conversion has created its temporary output: startup is slow on a loaded machine
      const started = () => readdirSync(dir.path).some((f) => f.startsWith(`.kept-${signal}.vhdx.partial-`));
      for (let waited = 0; !started() && waited < 20_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      expect(started()).toBe(true);
      child.kill(signal);
      const ended = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      expect(ended).toEqual([null, signal]);
      expect(readdirSync(dir.path).filter((f) => f.includes('.partial-'))).toEqual([]);
      expect(readFileSync(out, 'utf8')).toBe('old contents');
    },
  );

  it('a VHDX on stdin with its blocks stored far out of order: one line saying to give the path (no library option), and by path it converts', () => {
    const disk = makeRaw(80 * MiB, 'data', 8); // more than the 64 MiB the decoder may hold
    const reversed = join(dir.path, 'reversed.vhdx');
    writeFileSync(reversed, buildSynthetic({ raw: disk, order: 'reverse' }));
    const out = join(dir.path, 'reversed.raw');
    const r = vhdx(['convert', '-', out], readFileSync(reversed));
    expect(r.status).toBe(1);
    oneLineError(r.stderr, 'LIMIT_EXCEEDED');
    expect(r.stderr).toMatch(/too far out of order .*give the file by its path/);
    expect(r.stderr).not.toContain('maxBufferBytes');
    expect(existsSync(out)).toBe(false);
    expect(vhdx(['convert', reversed, out]).status).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(disk));
  });

  it('re-blocks a VHDX from stdin into a file and onto stdout', () => {
    const a = join(dir.path, 'from-stdin-src.vhdx');
    expect(vhdx(['convert', rawPath, a, '--block-size', '1M']).status).toBe(0);
    const b = join(dir.path, 'from-stdin-reblocked.vhdx');
    const r = vhdx(['convert', '-', b, '--to', 'vhdx', '--block-size', '2M'], readFileSync(a));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(String(vhdx(['info', b, '--json']).stdout))).toMatchObject({ blockSize: 2 * MiB, virtualSize: raw.length });
    expect(sha256(vhdx(['convert', b, '-']).stdout)).toBe(sha256(raw));
    const piped = vhdx(['convert', '-', '-', '--to', 'vhdx', '--type', 'fixed'], readFileSync(a));
    expect(piped.status, piped.stderr).toBe(0);
    expect(sha256(vhdx(['convert', '-', '-'], piped.stdout).stdout)).toBe(sha256(raw));
  });

  it('converts a file onto itself safely: the whole input is read before it is replaced', () => {
    const f = join(dir.path, 'inplace.vhdx');
    expect(vhdx(['convert', rawPath, f, '--block-size', '1M']).status).toBe(0);
    const r = vhdx(['convert', f, f, '--to', 'vhdx', '--block-size', '4M']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(String(vhdx(['info', f, '--json']).stdout)).blockSize).toBe(4 * MiB);
    expect(sha256(vhdx(['convert', f, '-']).stdout)).toBe(sha256(raw));
  });
});

describe('HTTP inputs', () => {
  let server: FileServer;
  let base = '';
  const files = new Map<string, Uint8Array>();
  beforeAll(async () => {
    const v = join(dir.path, 'served.vhdx');
    vhdx(['convert', rawPath, v]);
    files.set('/disk.raw', raw);
    files.set('/odd.raw', raw.subarray(0, 5 * MiB + 1000));
    files.set('/disk.vhdx', readFileSync(v));
    server = await serveFiles(files);
    base = server.base;
  });
  afterAll(() => server.close());

  const vhdxAsync = (args: string[]) => runAsync(BIN, args, dir.path);

  it.each(['', '?norange'])('VHDX URL -> raw (server %s)', async (q) => {
    const r = await vhdxAsync(['convert', `${base}/disk.vhdx${q}`, '-']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(raw));
  });

  // ?gzip: fetch decodes the body; its Content-Length, the compressed size, must not size the disk
  it.each(['', '?norange', '?gzip'])('raw URL -> VHDX file (server %s), and info over Range', async (q) => {
    const out = join(dir.path, `http${q.replace('?', '-')}.vhdx`);
    const r = await vhdxAsync(['convert', `${base}/disk.raw${q}`, out]);
    expect(r.status, r.stderr).toBe(0);
    const back = await vhdxAsync(['convert', out, '-']);
    expect(sha256(back.stdout)).toBe(sha256(raw));
    const info = await vhdxAsync(['info', `${base}/disk.vhdx`, '--json']);
    expect(JSON.parse(String(info.stdout)).virtualSize).toBe(raw.length);
  });

  it('a raw URL that is not a whole number of sectors becomes a VHDX on stdout, its last sector filled with zeros', async () => {
    const r = await vhdxAsync(['convert', `${base}/odd.raw`, '-', '--block-size', '1M']);
    expect(r.status, r.stderr).toBe(0);
    const out = join(dir.path, 'http-odd.vhdx');
    writeFileSync(out, r.stdout);
    const back = (await vhdxAsync(['convert', out, '-'])).stdout;
    expect(back.length).toBe(5 * MiB + 1024);
    expect(sha256(back.subarray(0, 5 * MiB + 1000))).toBe(sha256(raw.subarray(0, 5 * MiB + 1000)));
    expect(back.subarray(5 * MiB + 1000).every((b) => b === 0)).toBe(true);
  });

  it('a Range reply cut short while the format is being found is an I/O error, not a guess (no raw copy of the VHDX)', async () => {
    const out = join(dir.path, 'shortrange.raw');
    const r = await vhdxAsync(['convert', `${base}/disk.vhdx?shortrange`, out]);
    expect(r.status, r.stderr).toBe(4);
    expect(existsSync(out)).toBe(false);
  });

  it('an unreachable URL is an I/O error (exit 4)', async () => {
    const r = await vhdxAsync(['convert', 'http://127.0.0.1:1/disk.raw', join(dir.path, 'u.vhdx')]);
    expect(r.status).toBe(4);
    oneLineError(r.stderr, 'IO');
  });
});

describeWith(['qemu-img'], 'vhdx command output checked by qemu-img', () => {
  it('raw -> VHDX file is identical to the raw image', () => {
    const out = join(dir.path, 'q.vhdx');
    expect(vhdx(['convert', rawPath, out]).status).toBe(0);
    expect(run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', out, rawPath]).status).toBe(0);
  });
});
