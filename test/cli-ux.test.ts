// The `vhdx` command as a person meets it (issue 13, findings 10-14 and the
// rest of its UX side): messages in the words typed, terminals and closed
// pipes, check and info reports, short options and per-command help, one
// exit-code table, `measure`, and the README matching `--help`.
// Each test is named after the finding it shows; all run the built command.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDirty } from './helpers/dirty-log.js';
import { makeRaw } from './helpers/images.js';
import { storedBlocks } from './helpers/vhdx-inspect.js';
import { tempDir } from './helpers/tools.js';
import { oneLine } from './helpers/cli-lines.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url);
const dir = tempDir('vhdx-cli-ux-');
afterAll(() => dir.cleanup());

/** 20 MiB with data in blocks 0, 5 and 17 (of 1 MiB) and a non-zero last byte: the rest is zero. */
const sparseRaw = new Uint8Array(20 * MiB);
for (const block of [0, 5, 17]) sparseRaw.set(makeRaw(64 * 1024, 'data', block + 1), block * MiB + 4096);
sparseRaw[sparseRaw.length - 1] = 7;
const rawPath = join(dir.path, 'sparse.raw');
writeFileSync(rawPath, sparseRaw);
const vhdxPath = join(dir.path, 'sparse.vhdx');

function vhdx(args: string[], input?: Uint8Array) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 256 * MiB, cwd: dir.path, timeout: 60_000 });
  return { status: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Runs the command with a pseudo-terminal as stdin, stdout and stderr (util-linux `script`); output as the terminal showed it. */
function inTerminal(args: string[]) {
  const command = [process.execPath, BIN, ...args].map(quote).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  return { status: r.status, output: String(r.stdout).replaceAll('\r', '') };
}
const hasScript = spawnSync('script', ['--version']).status === 0;

beforeAll(() => {
  const r = vhdx(['convert', rawPath, vhdxPath, '--block-size', '1M']);
  expect(r.status, r.stderr).toBe(0);
});

describe('messages name the flag the user typed', () => {
  it('option values the library refuses are named by their flag, with the value as typed', () => {
    let r = vhdx(['convert', rawPath, 'x.vhdx', '--block-size', '3M']);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr, 'USAGE')).toBe('--block-size must be a power of two from 1M to 256M, got 3M');
    r = vhdx(['convert', rawPath, 'x.vhdx', '--log-size', '1000']);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr, 'USAGE')).toMatch(/^--log-size must be a multiple of 1M .*, got 1000$/);
    r = vhdx(['convert', rawPath, 'x.vhdx', '--size', '1M']);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr, '[A-Z_]+')).toMatch(/^--size 1M is smaller than the input/);
    for (const stderr of [r.stderr]) expect(stderr).not.toMatch(/virtualSize|blockSize|logSize|options /);
    r = vhdx(['convert', rawPath, 'x.vhdx', '-O', 'qcow2']);
    expect(oneLine(r.stderr, 'USAGE')).toBe('-O must be raw or vhdx, got "qcow2"');
  });

  it('an unknown option is one clean line with the closest known option', () => {
    let r = vhdx(['convert', rawPath, 'x.vhdx', '--blok-size', '1M']);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr, 'USAGE')).toBe('unknown option --blok-size (did you mean --block-size?)');
    r = vhdx(['info', vhdxPath, '--jsno']);
    expect(oneLine(r.stderr, 'USAGE')).toBe('unknown option --jsno (did you mean --json?)');
    r = vhdx(['info', vhdxPath, '-json']);
    expect(oneLine(r.stderr, 'USAGE')).toBe('unknown option -json (did you mean --json?)');
    r = vhdx(['convert', rawPath, 'x.vhdx', '--frobnicate']);
    expect(oneLine(r.stderr, 'USAGE')).toBe('unknown option --frobnicate'); // nothing close: no suggestion
    expect(r.stderr).not.toContain("'");
  });

  it('parses the options: sizes, names, suggestions (unit)', async () => {
    const { parseSize, parseCommandLine } = await import('../src/cli/args.js');
    const { closest, editDistance } = await import('../src/cli/options.js');
    expect(parseSize('1.5G', '--size')).toBe(1.5 * 1024 * MiB);
    expect(parseSize('32M', '--block-size')).toBe(32 * MiB);
    expect(parseSize('2TiB', '--size')).toBe(2 * 1024 * 1024 * MiB);
    expect(parseSize('4096', '--size')).toBe(4096);
    expect(() => parseSize('1.3K', '--size')).toThrow('--size 1.3K is not a whole number of bytes');
    expect(() => parseSize('8P', '--size')).toThrow('too large');
    expect(() => parseSize('lots', '--size')).toThrow('--size must be a size');
    expect(editDistance('blok-size', 'block-size')).toBe(1);
    expect(closest('tpye', ['type', 'to', 'size'])).toBe('type');
    expect(closest('zzzzzz', ['type', 'to', 'size'])).toBeUndefined();
    const line = parseCommandLine(['convert', 'a', 'b', '-Ovhdx', '-qf', 'raw', '--size=1.5M']);
    expect(line.command).toMatchObject({
      name: 'convert',
      flags: { to: 'vhdx', inputFormat: 'raw', quiet: true, progress: false, virtualSize: 1.5 * MiB },
    });
    expect(parseCommandLine(['info', '--', '-odd-name']).command).toMatchObject({ name: 'info', input: '-odd-name' });
  });

  it('library messages lose the location prefix only where the location is printed apart (unit)', async () => {
    const { VhdxError } = await import('../src/errors.js');
    const { splitMessage, describeError } = await import('../src/cli/messages.js');
    const e = new VhdxError('bat-entry-past-eof', 'block 3 is past the end', { structure: 'bat', field: 'entry', offset: 4096 });
    expect(splitMessage(e.message, e)).toEqual({ field: 'entry', text: 'block 3 is past the end' });
    // a problem report has no field: the word in its place is found from the prefix
    expect(splitMessage(e.message, { structure: 'bat', offset: 4096 })).toEqual({ field: 'entry', text: 'block 3 is past the end' });
    expect(splitMessage('log entry skipped: checksum mismatch', { structure: 'log entry' })).toEqual({
      text: 'log entry skipped: checksum mismatch',
    });
    const lib = new VhdxError('invalid-option', 'must be 512 or 4096, got 1024', { structure: 'options', field: 'logicalSectorSize' });
    expect(describeError(lib, new Map())).toBe('--logical-sector-size must be 512 or 4096, got 1024');
  });
});

describe.skipIf(!hasScript && process.env.CI !== 'true')('#11 binary never goes to a terminal, nor is awaited from one', () => {
  it('a terminal on stdout is refused before any work', () => {
    const r = inTerminal(['convert', rawPath, '-']);
    expect(r.status).toBe(2);
    expect(r.output.trim()).toMatch(/^vhdx: error\[USAGE\]: .*terminal.*redirect.*or name an output/);
    expect(r.output.length).toBeLessThan(300); // no image bytes
  });

  it('a terminal on stdin with - is refused, not waited on', () => {
    const r = inTerminal(['convert', '-', join(dir.path, 'from-tty.vhdx')]);
    expect(r.status).toBe(2);
    expect(r.output.trim()).toMatch(/^vhdx: error\[USAGE\]: standard input is a terminal/);
  });

  it('progress is shown on a terminal by default, never with -q or --no-progress', () => {
    expect(inTerminal(['convert', rawPath, join(dir.path, 'tty1.vhdx')]).output).toMatch(/MiB/);
    for (const flag of ['-q', '--quiet', '--no-progress']) {
      const r = inTerminal(['convert', rawPath, join(dir.path, 'tty2.vhdx'), flag]);
      expect(r.status, r.output).toBe(0);
      expect(r.output, flag).toBe('');
    }
  });
});

describe('a closed pipe ends the command quietly', () => {
  it('vhdx convert a.vhdx - | head -c 100: status 141 (SIGPIPE) or 0, nothing on stderr', () => {
    const err = join(dir.path, 'epipe.err');
    const script = `${quote(process.execPath)} ${quote(BIN)} convert ${quote(vhdxPath)} - 2>${quote(err)} | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 60_000 });
    expect(['141', '0']).toContain(r.stdout.trim());
    expect(readFileSync(err, 'utf8')).toBe('');
  });

  it('a reader that hangs up mid-stream: killed by SIGPIPE (or 141), no error line', async () => {
    const child = spawn(process.execPath, [BIN, 'convert', vhdxPath, '-'], { cwd: dir.path });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy());
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    expect(signal === 'SIGPIPE' || code === 141 || code === 0, `${code} ${signal}`).toBe(true);
    expect(stderr).toBe('');
  });
});

describe('check lists every problem once; info names the image and its disk size', () => {
  it('a truncated file: every BAT entry past the end, once each, in order, with code, reason, structure and one offset; exit 3', () => {
    const cut = join(dir.path, 'cut.vhdx');
    const full = readFileSync(vhdxPath);
    const stored = [...storedBlocks(new Uint8Array(full), MiB, 512, 20).values()].sort((a, b) => a - b);
    // cut inside the second stored block: it and the ones after it are past the end
    writeFileSync(cut, full.subarray(0, stored[1]! + 4096));
    const r = vhdx(['check', cut]);
    expect(r.status, r.stderr).toBe(3);
    const lines = r.stdout.trim().split('\n');
    const problems = lines.slice(0, -1);
    expect(lines.at(-1)).toBe(`${stored.length - 1} problems found.`);
    expect(problems).toHaveLength(stored.length - 1);
    expect(new Set(problems).size).toBe(problems.length);
    const offsets = problems.map((line) => {
      const m = /^TRUNCATED bat-entry-past-eof bat at offset (\d+) \(0x([0-9a-f]+)\): (.+)$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(Number.parseInt(m![2]!, 16)).toBe(Number(m![1]));
      expect(m![3], 'the offset is not repeated').not.toContain('at offset');
      return Number(m![1]);
    });
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    const json = JSON.parse(vhdx(['check', cut, '--output=json']).stdout);
    expect(json.ok).toBe(false);
    expect(json.problems).toHaveLength(problems.length);
    expect(json.problems[0]).toMatchObject({ code: 'TRUNCATED', reason: 'bat-entry-past-eof', structure: 'bat', offset: offsets[0] });
    expect(json.problems[0].message).not.toContain('at offset');
  });

  it('a valid dirty file (with entries an earlier log left) reports none and exits 0', () => {
    const clean = new Uint8Array(readFileSync(vhdxPath));
    const block0 = storedBlocks(clean, MiB, 512, 20).get(0)!;
    const write = { fileOffset: block0 + 8192, data: new Uint8Array(4096).fill(0x5a) };
    const entry = (sequenceNumber: bigint, at: number, logGuid?: string) => ({
      sequenceNumber,
      at,
      tail: at,
      writes: [write],
      flushedFileOffset: clean.length,
      lastFileOffset: clean.length,
      ...(logGuid ? { logGuid } : {}),
    });
    const dirty = makeDirty(clean, [entry(40n, 256 * 1024, '0badc0de-1234-4abc-8def-0123456789ab'), entry(5n, 0)]);
    const path = join(dir.path, 'dirty.vhdx');
    writeFileSync(path, dirty);
    expect(JSON.parse(vhdx(['info', path, '--json']).stdout).logDirty).toBe(true);
    const r = vhdx(['check', path]);
    expect(r.stdout).toBe('No problems found.\n');
    expect(r.status).toBe(0);
  });

  it('a file that is not a VHDX gets one NOT_VHDX error line from check, not a problem count (info calls it raw)', () => {
    const c = vhdx(['check', rawPath]);
    expect(c.status).toBe(1);
    oneLine(c.stderr, 'NOT_VHDX');
    expect(c.stdout).toBe('');
    const i = vhdx(['info', rawPath]);
    expect(i.status, i.stderr).toBe(0);
    expect(i.stdout).toContain('file format:       raw');
  });

  it('a directory is an I/O error naming the path (exit 4)', () => {
    const d = join(dir.path, 'a-directory');
    mkdirSync(d, { recursive: true });
    for (const command of ['check', 'info', 'measure']) {
      const r = vhdx([command, d]);
      expect(r.status, command).toBe(4);
      expect(oneLine(r.stderr, 'IO'), command).toContain(d);
    }
  });

  it('info shows the image name, format, virtual size and disk size (allocated bytes); JSON numbers are numbers', () => {
    const table = vhdx(['info', vhdxPath]).stdout;
    const onDisk = statSync(vhdxPath).blocks * 512;
    expect(table).toMatch(new RegExp(`^image: +${vhdxPath}$`, 'm'));
    expect(table).toMatch(/^file format: +vhdx$/m);
    expect(table).toMatch(/^virtual size: +20\.0 MiB \(20971520 bytes\)$/m);
    expect(table).toMatch(new RegExp(`^disk size: +.* \\(${onDisk} bytes\\)$`, 'm'));
    const json = JSON.parse(vhdx(['info', vhdxPath, '--json']).stdout);
    expect(JSON.parse(vhdx(['info', vhdxPath, '--output=json']).stdout)).toEqual(json);
    expect(json).toMatchObject({
      image: vhdxPath,
      format: 'vhdx',
      virtualSize: sparseRaw.length,
      diskSize: onDisk,
      headerSequenceNumber: 2,
    });
    const numbers = [
      'virtualSize',
      'diskSize',
      'blockSize',
      'allocatedBytes',
      'allocatedBlocks',
      'blockCount',
      'fileSize',
      'currentHeader',
      'headerSequenceNumber',
    ];
    for (const k of numbers) expect(typeof json[k], k).toBe('number');
    // a file redirected to stdin reads too; an URL or a pipe has no disk size of its own
    const viaStdin = spawnSync(process.execPath, [BIN, 'info', '-', '--json'], { stdio: [openSync(vhdxPath, 'r'), 'pipe', 'pipe'] });
    expect(JSON.parse(String(viaStdin.stdout))).toMatchObject({ image: '-', virtualSize: sparseRaw.length });
  });
});

describe('conventions: version, short options, help, options per command', () => {
  it('--version and -V print the package version', () => {
    const { version } = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8'));
    for (const flag of ['--version', '-V']) {
      const r = vhdx([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`vhdx (vhdx-stream) ${version}\n`);
    }
  });

  it('vhdx alone: usage on stderr, exit 2; --help: stdout, exit 0; each command has its own --help', () => {
    const bare = vhdx([]);
    expect(bare.status).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toContain('vhdx convert <input> <output>');
    const help = vhdx(['--help']);
    expect(help.status).toBe(0);
    expect(help.stderr).toBe('');
    expect(help.stdout).toContain('vhdx measure <input>');
    for (const [command, own, notOwn] of [
      ['convert', '--block-size', '--json'],
      ['info', '--json', '--block-size'],
      ['check', '--output', '--type'],
      ['measure', '--size', '--progress'],
    ] as const) {
      const r = vhdx([command, '--help']);
      expect(r.status, command).toBe(0);
      expect(r.stdout, command).toMatch(new RegExp(`^Usage: vhdx ${command} `));
      expect(r.stdout, command).toContain(own);
      expect(r.stdout, command).not.toContain(notOwn);
      expect(vhdx(['help', command]).stdout).toBe(r.stdout);
    }
  });

  it('options that do not apply to the command are usage errors', () => {
    for (const args of [
      ['info', vhdxPath, '--type', 'fixed'],
      ['check', vhdxPath, '--block-size', '1M'],
      ['convert', rawPath, 'x.vhdx', '--json'],
      ['convert', rawPath, 'x.vhdx', '--output=json'],
      ['measure', rawPath, '-p'],
    ]) {
      const r = vhdx(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr, 'USAGE')).toMatch(/ does not apply to (info|check|convert|measure)/);
    }
  });

  it('-O is --to, -p shows progress, -f raw|vhdx is accepted, --size takes decimals', () => {
    const a = join(dir.path, 'o.vhdx');
    let r = vhdx(['convert', vhdxPath, a, '-O', 'vhdx', '--block-size', '2M', '-p']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/MiB/); // progress on a stderr that is no terminal, because -p asked
    expect(JSON.parse(vhdx(['info', a, '--json']).stdout)).toMatchObject({ blockSize: 2 * MiB, virtualSize: sparseRaw.length });
    r = vhdx(['convert', rawPath, join(dir.path, 'f.vhdx'), '-f', 'raw']);
    expect(r.status, r.stderr).toBe(0);
    expect(oneLine(vhdx(['convert', rawPath, 'x.vhdx', '-f', 'qcow2']).stderr, 'USAGE')).toBe('-f must be raw or vhdx, got "qcow2"');
    const small = join(dir.path, 'small.raw');
    writeFileSync(small, sparseRaw.subarray(0, MiB));
    const out = join(dir.path, 'decimal.vhdx');
    r = vhdx(['convert', small, out, '--size', '1.5M']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(vhdx(['info', out, '--json']).stdout).virtualSize).toBe(1.5 * MiB);
    expect(oneLine(vhdx(['convert', small, out, '--size', '1.3K']).stderr, 'USAGE')).toBe('--size 1.3K is not a whole number of bytes');
  });
});

describe('VHDX -> VHDX onto stdout', () => {
  it('leaves the blocks without data out, as into a file: the BAT comes first, sized from the input BAT', () => {
    const out = join(dir.path, 'restdout.vhdx');
    const r = spawnSync('bash', ['-c', `${quote(process.execPath)} ${quote(BIN)} convert ${quote(vhdxPath)} - -O vhdx > ${quote(out)}`], {
      cwd: dir.path,
    });
    expect(r.status, String(r.stderr)).toBe(0);
    const file = readFileSync(out);
    // data in blocks 0, 5, 17 and the last one (19) of 1 MiB, the input's block size
    expect([...storedBlocks(file, MiB, 512, 20).keys()].sort((a, b) => a - b)).toEqual([0, 5, 17, 19]);
    const back = join(dir.path, 'restdout.raw');
    expect(vhdx(['convert', out, back]).status).toBe(0);
    expect(Buffer.compare(readFileSync(back), sparseRaw)).toBe(0);
  });
});

describe('outputs that would destroy what they are made from', () => {
  it('standard output redirected into the input file (1<>, >>) is refused before a byte is written', () => {
    const victim = join(dir.path, 'victim.raw');
    for (const redirect of ['1<>', '>>']) {
      writeFileSync(victim, sparseRaw);
      const r = spawnSync(
        'bash',
        ['-c', `${quote(process.execPath)} ${quote(BIN)} convert ${quote(victim)} - -O vhdx ${redirect} ${quote(victim)}`],
        {
          cwd: dir.path,
        },
      );
      expect(r.status, redirect).toBe(2);
      expect(oneLine(String(r.stderr), 'USAGE')).toBe(`standard output is the input file ${victim}; converting in place would destroy it`);
      expect(Buffer.compare(readFileSync(victim), sparseRaw), redirect).toBe(0);
    }
  });

  it('a symlink to nothing is refused (exit 4), and stays a symlink', () => {
    const link = join(dir.path, 'dangling.vhdx');
    symlinkSync('missing-dir/disk.vhdx', link);
    const r = vhdx(['convert', rawPath, link]);
    expect(r.status).toBe(4);
    expect(oneLine(r.stderr, 'IO')).toBe(
      `cannot create ${link}: it is a symbolic link to missing-dir/disk.vhdx, which does not exist (not writing through a dangling link)`,
    );
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });
});

describe('output names', () => {
  it('a name of another image or archive format is refused without -O (no VHDX in disk.vhd); with -O it is written', () => {
    for (const name of ['disk.vhd', 'disk.VMDK', 'disk.qcow2', 'disk.img.gz', 'disk.vdi']) {
      const r = vhdx(['convert', rawPath, join(dir.path, name)]);
      expect(r.status, name).toBe(2);
      expect(oneLine(r.stderr, 'USAGE')).toMatch(
        /^the output .* is named as \S+, which this tool does not write: name it \.vhdx or \.raw, or give -O vhdx\|raw/,
      );
      expect(existsSync(join(dir.path, name))).toBe(false);
    }
    const forced = join(dir.path, 'forced.vhd');
    expect(vhdx(['convert', rawPath, forced, '-O', 'vhdx']).status).toBe(0);
    expect(readFileSync(forced).subarray(0, 8).toString()).toBe('vhdxfile');
  });

  it('a name of 255 bytes works: the temporary name beside it is cut to fit', () => {
    const long = join(dir.path, `${'n'.repeat(250)}.vhdx`);
    const r = vhdx(['convert', rawPath, long]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(long).subarray(0, 8).toString()).toBe('vhdxfile');
    expect(readdirSync(dir.path).filter((f) => f.includes('.partial-'))).toEqual([]);
  });
});

describe('exit codes: one table, in --help and in the README', () => {
  it('0 success, 1 invalid image, 2 usage, 3 problems found, 4 I/O', () => {
    expect(vhdx(['info', vhdxPath]).status).toBe(0);
    expect(vhdx(['check', rawPath]).status).toBe(1);
    expect(vhdx(['info']).status).toBe(2);
    const cut = join(dir.path, 'cut-exit.vhdx');
    writeFileSync(cut, readFileSync(vhdxPath).subarray(0, 5 * MiB));
    expect(vhdx(['check', cut]).status).toBe(3);
    const missing = vhdx(['convert', join(dir.path, 'missing.raw'), 'y.vhdx']);
    expect(missing.status).toBe(4);
    oneLine(missing.stderr, 'IO');
    expect(vhdx(['check', join(dir.path, 'missing.vhdx')]).status).toBe(4); // could not check: not "problems found"
  });

  it('the README\'s "Command line" section has every command and option of --help, and the same exit-code table', () => {
    const help = vhdx(['--help']).stdout;
    const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
    const section = /\n## Command line\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    expect(section).not.toBe('');
    const options = [...help.matchAll(/(?<![\w-])(--[a-z][a-z-]+|-[a-zA-Z])(?![\w-])/g)].map((m) => m[1]!);
    expect(options.length).toBeGreaterThan(15);
    for (const option of new Set(options)) expect(section, option).toContain(option);
    for (const command of ['convert', 'info', 'check', 'measure']) expect(section, command).toContain(`vhdx ${command} `);
    const helpCodes = help
      .split('Exit codes:\n')[1]!
      .trim()
      .split('\n')
      .map((l) => /^\s*(\d)\s+(.+)$/.exec(l)!.slice(1, 3));
    const readmeCodes = [...section.matchAll(/^\| (\d) \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(helpCodes).toHaveLength(5);
    expect(readmeCodes).toEqual(helpCodes);
  });
});

describe('vhdx measure: the size the VHDX output will take', () => {
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      const body = readFileSync(join(dir.path, (req.url ?? '/').slice(1)));
      res.writeHead(200, { 'content-length': body.length }).end(body); // no Range: streamed
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  function measured(args: string[]): { required: number; fullyAllocated: number } {
    const r = vhdx(['measure', ...args, '--json']);
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  }

  it('matches the real output for a dynamic and a fixed conversion, default and chosen block sizes', () => {
    for (const options of [['--block-size', '1M'], [], ['--block-size', '2M', '--log-size', '2M', '--logical-sector-size', '4096']]) {
      const dynamic = join(dir.path, 'm-dynamic.vhdx');
      const fixed = join(dir.path, 'm-fixed.vhdx');
      expect(vhdx(['convert', rawPath, dynamic, ...options]).status).toBe(0);
      expect(vhdx(['convert', rawPath, fixed, '--type', 'fixed', ...options]).status).toBe(0);
      const m = measured([rawPath, ...options]);
      expect(m.required, options.join(' ')).toBe(statSync(dynamic).size);
      expect(m.fullyAllocated, options.join(' ')).toBe(statSync(fixed).size);
      expect(m.required).toBeLessThan(m.fullyAllocated);
      expect(measured([rawPath, '--type', 'fixed', ...options])).toEqual({
        required: statSync(fixed).size,
        fullyAllocated: statSync(fixed).size,
      });
    }
  });

  it('prints text; measures a VHDX input by its disk, a redirected stdin, a --size beyond the input, and a URL streamed', async () => {
    const text = vhdx(['measure', rawPath, '--block-size', '1M']);
    const m = measured([rawPath, '--block-size', '1M']);
    expect(text.stdout).toBe(`required size: ${m.required}\nfully allocated size: ${m.fullyAllocated}\n`);
    expect(measured([vhdxPath, '--block-size', '1M'])).toEqual(m);
    const viaStdin = spawnSync(process.execPath, [BIN, 'measure', '-', '--block-size', '1M', '--json'], {
      stdio: [openSync(rawPath, 'r'), 'pipe', 'pipe'],
    });
    expect(JSON.parse(String(viaStdin.stdout))).toEqual(m);
    const piped = vhdx(['measure', '-'], sparseRaw);
    expect(piped.status).toBe(2);
    oneLine(piped.stderr, 'USAGE');
    const bigger = measured([rawPath, '--block-size', '1M', '--size', '30M']);
    expect(bigger.required).toBe(m.required); // the added blocks are zeros
    expect(bigger.fullyAllocated).toBe(m.fullyAllocated + 10 * MiB);
    const grown = join(dir.path, 'm-grown.vhdx');
    expect(vhdx(['convert', rawPath, grown, '--block-size', '1M', '--size', '30M']).status).toBe(0);
    expect(statSync(grown).size).toBe(bigger.required);
    expect(oneLine(vhdx(['measure', rawPath, '--size', '1M']).stderr, 'USAGE')).toMatch(/^--size .* is smaller than the input/);
    for (const name of ['sparse.raw', 'sparse.vhdx']) {
      const r = await new Promise<string>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'measure', `${base}/${name}`, '--block-size', '1M', '--json']);
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', () => resolve(out));
      });
      expect(JSON.parse(r), name).toEqual(m);
    }
  });
});
