// The command line as a qemu-img user and a script meet it: one way to name
// an input (paths, -, http(s) and file: URLs) for every command, and a usage
// error for a scheme it does not read; measure, info and convert taking
// qemu-img's habits or answering them plainly; one JSON key style; one label
// for every usage mistake (exit 2); help and messages in plain words.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oneLine } from './helpers/cli-lines.js';
import { makeRaw } from './helpers/images.js';
import { tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const dir = tempDir('vhdx-cli-habits-');
afterAll(() => dir.cleanup());

function vhdx(args: string[], input?: Uint8Array, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 64 * MiB, cwd: dir.path, timeout: 60_000, env });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const at = (name: string) => join(dir.path, name);
const raw = makeRaw(6 * MiB, 'mixed', 5);

beforeAll(() => {
  writeFileSync(at('disk.raw'), raw);
  const r = vhdx(['convert', at('disk.raw'), at('disk.vhdx'), '--block-size', '1M']);
  expect(r.status, r.stderr).toBe(0);
});

/** The files in the folder, for "nothing was written" checks. */
const listing = () => readdirSync(dir.path).sort();

describe('one way to name an input, for every command', () => {
  it('a file: URL works for convert, measure, info and check alike', () => {
    const url = pathToFileURL(at('disk.raw')).href;
    const r = vhdx(['convert', url, at('from-url.vhdx'), '--block-size', '1M']);
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(at('from-url.vhdx')).size).toBe(statSync(at('disk.vhdx')).size);
    const vhdxUrl = pathToFileURL(at('disk.vhdx')).href;
    for (const args of [
      ['info', vhdxUrl],
      ['check', vhdxUrl],
      ['measure', url],
      ['convert', vhdxUrl, at('back.raw')],
    ]) {
      const r2 = vhdx(args);
      expect(r2.status, `${args.join(' ')}: ${r2.stderr}`).toBe(0);
    }
  });

  it('a scheme the tool does not read is a usage error naming the ones it does, for an input and for an output', () => {
    const before = listing();
    const inputs = [
      ['convert', 'gs://bucket/disk.raw', 'out.vhdx'],
      ['info', 'ftp://host/disk.vhdx'],
      ['check', 'ftp://host/disk.vhdx'],
      ['measure', 'gs://bucket/disk.raw'],
      ['convert', at('disk.raw'), 'child.avhdx', '--parent', 'gs://bucket/base.vhdx'],
    ];
    const outputs = [
      ['convert', at('disk.raw'), 'gs://bucket/out.vhdx'],
      ['convert', at('disk.raw'), 'https://host/out.vhdx'],
      ['create', 's3://bucket/child.avhdx', '--parent', at('disk.vhdx')],
    ];
    for (const args of [...inputs, ...outputs]) {
      const r = vhdx(args);
      expect(r.status, args.join(' ')).toBe(2);
      const message = oneLine(r.stderr, 'USAGE');
      expect(message, args.join(' ')).toMatch(/^(s3|ftp|gs|https):\/\/\S+: (s3|ftp|gs|https): URLs are not/);
      expect(message).toMatch(
        inputs.includes(args) ? /http, https, s3 or file URL/ : /a path, a file URL, - for stdout, or \(for convert\) s3:/,
      );
    }
    expect(listing()).toEqual(before);
    expect(existsSync(join(dir.path, 's3:'))).toBe(false);
  });

  it('s3:// without credentials in the environment: a usage error naming the variables, for an input and a convert output', () => {
    const env = { ...process.env };
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL']) delete env[name];
    const before = listing();
    for (const args of [
      ['convert', 's3://bucket/disk.raw', 'out.vhdx'],
      ['info', 's3://bucket/disk.vhdx'],
      ['convert', at('disk.raw'), 's3://bucket/out.vhdx'],
    ]) {
      const r = vhdx(args, undefined, env);
      expect(r.status, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr, 'USAGE')).toMatch(
        /^s3:\/\/bucket\/\S+: s3 URLs need credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
      );
    }
    const noKey = vhdx(['convert', at('disk.raw'), 's3://bucket'], undefined, {
      ...env,
      AWS_ACCESS_KEY_ID: 'a',
      AWS_SECRET_ACCESS_KEY: 'b',
    });
    expect(oneLine(noKey.stderr, 'USAGE')).toMatch(/names a bucket and a key/);
    expect(listing()).toEqual(before);
  });

  it('a Windows drive letter and a path with a colon later on are paths, not schemes', () => {
    writeFileSync(at('odd:name.raw'), raw);
    const r = vhdx(['measure', 'odd:name.raw']);
    expect(r.status, r.stderr).toBe(0);
  });
});

describe('qemu-img habits', () => {
  it('measure -O vhdx is accepted (its output is always VHDX); -O raw is refused saying so', () => {
    const plain = vhdx(['measure', at('disk.raw'), '--json']);
    const withO = vhdx(['measure', '-O', 'vhdx', at('disk.raw'), '--json']);
    expect(withO.status, withO.stderr).toBe(0);
    expect(withO.stdout).toBe(plain.stdout);
    const r = vhdx(['measure', '-O', 'raw', at('disk.raw')]);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr, 'USAGE')).toMatch(/measure sizes a VHDX/);
  });

  it("-o takes qemu-img's subformat, block_size and log_size as the matching options", () => {
    const ours = vhdx(['measure', at('disk.raw'), '--type', 'fixed', '--block-size', '2M', '--log-size', '2M', '--json']);
    const theirs = vhdx(['measure', at('disk.raw'), '-o', 'subformat=fixed,block_size=2M,log_size=2M', '--json']);
    expect(theirs.status, theirs.stderr).toBe(0);
    expect(theirs.stdout).toBe(ours.stdout);
    const converted = vhdx(['convert', at('disk.raw'), at('o.vhdx'), '-o', 'subformat=dynamic,block_size=4194304']);
    expect(converted.status, converted.stderr).toBe(0);
    expect(JSON.parse(vhdx(['info', at('o.vhdx'), '--json']).stdout).blockSize).toBe(4 * MiB);
    let r = vhdx(['measure', at('disk.raw'), '-o', 'cluster_size=64k']);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr, 'USAGE')).toMatch(/-o cluster_size .*subformat, block_size, log_size/);
    r = vhdx(['measure', at('disk.raw'), '-o', 'block_size=2M', '--block-size', '4M']);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr, 'USAGE')).toMatch(/block_size.*--block-size/);
  });

  it('info on a raw file says file format: raw and its size, exit 0 (JSON too)', () => {
    const r = vhdx(['info', at('disk.raw')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('file format:       raw');
    expect(r.stdout).toContain(`virtual size:      6.00 MiB (${raw.length} bytes)`);
    const j = vhdx(['info', at('disk.raw'), '--json']);
    expect(j.status, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ image: at('disk.raw'), format: 'raw', virtualSize: raw.length });
  });

  it('convert to an output whose name says no format, without -O, is refused naming -O; nothing is written', () => {
    const before = listing();
    for (const out of ['out', 'out.data']) {
      const r = vhdx(['convert', at('disk.raw'), out]);
      expect(r.status, out).toBe(2);
      expect(oneLine(r.stderr, 'USAGE')).toMatch(/-O raw\|vhdx/);
    }
    expect(listing()).toEqual(before);
    const r = vhdx(['convert', at('disk.raw'), 'out', '-O', 'raw']);
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(at('out')).size).toBe(raw.length);
  });

  it('JSON keys are camelCase in every command (measure: required, fullyAllocated)', () => {
    const m = JSON.parse(vhdx(['measure', at('disk.raw'), '--json']).stdout);
    expect(Object.keys(m)).toEqual(['required', 'fullyAllocated']);
    const keys = (value: unknown): string[] =>
      value && typeof value === 'object'
        ? Object.entries(value).flatMap(([k, v]) => [...(Array.isArray(value) ? [] : [k]), ...keys(v)])
        : [];
    for (const args of [
      ['info', at('disk.vhdx')],
      ['check', at('disk.vhdx')],
      ['measure', at('disk.vhdx')],
    ]) {
      for (const key of keys(JSON.parse(vhdx([...args, '--json']).stdout))) expect(key, args[0]).toMatch(/^[a-z][a-zA-Z0-9]*$/);
    }
  });
});

describe('help and messages', () => {
  it('create --help says what --parent is for create, not what it does for convert', () => {
    const create = vhdx(['create', '--help']).stdout;
    const line = create.split('\n').find((l) => l.includes('--parent PATH'))!;
    expect(line).toMatch(/the VHDX the new child reads through/);
    expect(line).not.toMatch(/locator|raw input/);
  });

  it('"got 1 argument", not "1 arguments"', () => {
    const r = vhdx(['convert', 'a.raw']);
    expect(oneLine(r.stderr, 'USAGE')).toMatch(/got 1 argument \(/);
    expect(oneLine(vhdx(['info', 'a', 'b', 'c']).stderr, 'USAGE')).toMatch(/got 3 arguments/);
  });

  it('every exit 2 is labelled [USAGE], whether the command line or the library found the mistake', () => {
    for (const args of [
      ['convert', at('disk.raw'), 'x.vhdx', '--block-size', '3M'], // the library's rule
      ['convert', at('disk.raw'), 'x.vhdx', '--size', '1M'], // smaller than the input
      ['convert', at('disk.raw'), 'x.vhdx', '--type', 'sparse'], // the parser's
    ]) {
      const r = vhdx(args);
      expect(r.status, args.join(' ')).toBe(2);
      oneLine(r.stderr, 'USAGE');
    }
  });
});
