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

function vhdx(args: string[], input?: Uint8Array) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 64 * MiB, cwd: dir.path, timeout: 60_000 });
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
      ['convert', 's3://bucket/disk.raw', 'out.vhdx'],
      ['info', 's3://bucket/disk.vhdx'],
      ['check', 'ftp://host/disk.vhdx'],
      ['measure', 'gs://bucket/disk.raw'],
      ['convert', at('disk.raw'), 'child.avhdx', '--parent', 's3://bucket/base.vhdx'],
    ];
    const outputs = [
      ['convert', at('disk.raw'), 's3://bucket/out.vhdx'],
      ['convert', at('disk.raw'), 'https://host/out.vhdx'],
      ['create', 's3://bucket/child.avhdx', '--parent', at('disk.vhdx')],
    ];
    for (const args of [...inputs, ...outputs]) {
      const r = vhdx(args);
      expect(r.status, args.join(' ')).toBe(2);
      const message = oneLine(r.stderr, 'USAGE');
      expect(message, args.join(' ')).toMatch(/^(s3|ftp|gs|https):\/\/\S+: (s3|ftp|gs|https): URLs are not/);
      expect(message).toMatch(inputs.includes(args) ? /http, https or file URL/ : /a path, a file URL, or - for stdout/);
    }
    expect(listing()).toEqual(before);
    expect(existsSync(join(dir.path, 's3:'))).toBe(false);
  });

  it('a Windows drive letter and a path with a colon later on are paths, not schemes', () => {
    writeFileSync(at('odd:name.raw'), raw);
    const r = vhdx(['measure', 'odd:name.raw']);
    expect(r.status, r.stderr).toBe(0);
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
