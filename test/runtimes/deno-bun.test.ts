// Deno and Bun run the built package: the default entry from bytes and from
// a Blob, the Node entry from paths (both runtimes provide node:fs), and the
// `vhdx` command both ways; every output is compared with the source, VHDX
// files by qemu-img. Needs `npm run build` and `npm ci --prefix test/runtimes`.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { makeRaw } from '../helpers/images.js';
import { describeWith, sha256, suiteDir } from '../helpers/tools.js';
import { describeRuntime, ROOT, runtimeBin, type Runtime } from './workers/harness.js';

const MiB = 1024 * 1024;
const dir = suiteDir('vhdx-deno-bun-');
// 6 MiB + 1000 bytes: not whole blocks, not whole sectors (the disk is rounded up to 6 MiB + 1024)
const raw = makeRaw(6 * MiB + 1000, 'mixed', 9);
const padded = new Uint8Array(6 * MiB + 1024);
padded.set(raw);
const nonZeroMiBs = Array.from({ length: padded.length / MiB + 1 }, (_, i) => padded.subarray(i * MiB, (i + 1) * MiB).some((b) => b !== 0));

// a user's project: package.json and node_modules/vhdx-stream (this repository)
const project = join(dir.path, 'project');
const work = join(project, 'work');
const rawPath = join(work, 'disk.raw');
beforeAll(() => {
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  mkdirSync(work);
  symlinkSync(ROOT, join(project, 'node_modules', 'vhdx-stream'), 'dir');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', dependencies: { 'vhdx-stream': '*' } }));
  copyFileSync(new URL('./workers/roundtrip-script.js', import.meta.url), join(project, 'roundtrip-script.js'));
  writeFileSync(rawPath, raw);
});

/** How each runtime runs a script with its arguments. */
const command: Record<Exclude<Runtime, 'workerd'>, (script: string, args: string[], flags?: string[]) => string[]> = {
  deno: (script, args, flags = ['-A']) => ['run', ...flags, script, ...args],
  bun: (script, args) => [script, ...args],
};

function runIn(runtime: 'deno' | 'bun', script: string, args: string[], flags?: string[]) {
  const r = spawnSync(runtimeBin(runtime), command[runtime](script, args, flags), {
    cwd: project,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectIdentical(rawFile: string, vhdxFile: string): void {
  const cmp = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'vhdx', rawFile, vhdxFile], { encoding: 'utf8' });
  expect(cmp.stdout + cmp.stderr).toContain('Images are identical');
  expect(cmp.status).toBe(0);
}

for (const runtime of ['deno', 'bun'] as const) {
  describeRuntime(runtime, `${runtime} runs the built package`, () => {
    describeWith(['qemu-img'], `${runtime}: round trips compared with the source`, () => {
      it('default entry from bytes and from a Blob, Node entry from paths', () => {
        const r = runIn(runtime, 'roundtrip-script.js', [work]);
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual({
          runtime,
          outputSize: true,
          presentBlocks: nonZeroMiBs.filter(Boolean).length,
          blockCount: 7,
          check: true,
        });
        for (const kind of ['bytes', 'blob', 'path']) {
          expect(sha256(readFileSync(join(work, `${runtime}-${kind}.raw`))), kind).toBe(sha256(padded));
          expectIdentical(rawPath, join(work, `${runtime}-${kind}.vhdx`));
        }
      });

      it(`${runtime === 'bun' ? 'asks the file system for holes (bun:ffi)' : 'reads every byte: no hole map (its FileHandles have no OS descriptor)'}; a sparse file and its dense copy give the same map and VHDX`, () => {
        const script = join(project, 'holes-script.js');
        // a sparse raw file (holes at the start, between and at the end) beside a dense copy of it:
        // the same allocation map and byte-identical VHDX files, however the runtime reads them
        writeFileSync(
          script,
          [
            "import { closeSync, ftruncateSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';",
            "import { canMapHoles, convertRawFileToVhdx, scanAllocation } from 'vhdx-stream/node';",
            'const MiB = 1024 * 1024;',
            "const sparse = process.argv[2] + '/holes-sparse.raw', dense = process.argv[2] + '/holes-dense.raw';",
            "const fd = openSync(sparse, 'w'); ftruncateSync(fd, 12 * MiB);",
            'writeSync(fd, new Uint8Array(8192).fill(7), 0, 8192, 3 * MiB + 4096); writeSync(fd, new Uint8Array(MiB).fill(9), 0, MiB, 6 * MiB); closeSync(fd);',
            'writeFileSync(dense, readFileSync(sparse));',
            "const guids = { fileWrite: '11111111-1111-4111-8111-111111111111', dataWrite: '22222222-2222-4222-8222-222222222222', virtualDisk: '33333333-3333-4333-8333-333333333333' };",
            'const maps = await Promise.all([sparse, dense].map((f) => scanAllocation(f, { blockSize: MiB })));',
            "for (const f of [sparse, dense]) await convertRawFileToVhdx(f, f + '.vhdx', { blockSize: MiB, guids });",
            "const same = Buffer.compare(readFileSync(sparse + '.vhdx'), readFileSync(dense + '.vhdx')) === 0;",
            'console.log(JSON.stringify({ holes: await canMapHoles(), present: [...maps[0].present].flatMap((p, i) => (p ? [i] : [])), sameMap: maps[0].present.join() === maps[1].present.join(), same }));',
          ].join('\n'),
        );
        const r = runIn(runtime, script, [work]);
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual({ holes: runtime === 'bun', present: [3, 6], sameMap: true, same: true });
      });

      it('the vhdx command converts raw -> VHDX -> raw', () => {
        const vhdx = join(work, `${runtime}-cli.vhdx`);
        const back = join(work, `${runtime}-cli.raw`);
        const bin = join(ROOT, 'bin/vhdx.js');
        const encode = runIn(runtime, bin, ['convert', rawPath, vhdx, '--block-size', '1M']);
        expect(encode.status, encode.stderr).toBe(0);
        expectIdentical(rawPath, vhdx);
        const decode = runIn(runtime, bin, ['convert', vhdx, back]);
        expect(decode.status, decode.stderr).toBe(0);
        expect(sha256(readFileSync(back))).toBe(sha256(padded));
        const info = runIn(runtime, bin, ['info', vhdx, '--json']);
        expect(info.status, info.stderr).toBe(0);
        expect(JSON.parse(info.stdout)).toMatchObject({ virtualSize: padded.length, blockSize: MiB });
      });
    });
  });
}

describeRuntime('deno', 'deno with only the permissions docs/runtimes/deno-bun.md names', () => {
  it('the default entry needs none (imported here by file: URL rather than from node_modules)', () => {
    const script = join(project, 'no-permissions.mjs');
    writeFileSync(
      script,
      `import { VhdxEncoderStream, VhdxDecoderStream, crc32c } from '${pathToFileURL(join(ROOT, 'dist/index.js')).href}';
const raw = new Uint8Array(3 << 20).map((_, i) => (i % 4093 === 0 ? i & 255 : 0));
const vhdx = new Uint8Array(await new Response(new Blob([raw]).stream().pipeThrough(new VhdxEncoderStream({ virtualSize: raw.length }))).arrayBuffer());
const back = new Uint8Array(await new Response(new Blob([vhdx]).stream().pipeThrough(new VhdxDecoderStream())).arrayBuffer());
console.log(back.length === raw.length && crc32c(back) === crc32c(raw));
`,
    );
    const r = runIn('deno', script, [], ['--no-prompt']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('true');
  });

  it('the Node entry with paths needs --allow-read and --allow-write on its files', () => {
    const r = runIn('deno', 'roundtrip-script.js', [work], ['--no-prompt', `--allow-read=${work}`, `--allow-write=${work}`]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ runtime: 'deno', check: true });
    expect(sha256(readFileSync(join(work, 'deno-path.raw')))).toBe(sha256(padded));
  });

  it('the vhdx command needs only --allow-read and --allow-write on its files', () => {
    const flags = ['--no-prompt', `--allow-read=${work}`, `--allow-write=${work}`];
    const vhdx = join(work, 'deno-minimal.vhdx');
    const encode = runIn('deno', join(ROOT, 'bin/vhdx.js'), ['convert', rawPath, vhdx], flags);
    expect(encode.status, encode.stderr).toBe(0);
    const back = join(work, 'deno-minimal.raw');
    const decode = runIn('deno', join(ROOT, 'bin/vhdx.js'), ['convert', vhdx, back], flags);
    expect(decode.status, decode.stderr).toBe(0);
    expect(sha256(readFileSync(back))).toBe(sha256(padded));
  });
});
