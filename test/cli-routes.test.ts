// The command line's route table: every (input kind, direction, output kind)
// the command accepts has a route, and the direction follows the input.
import { execFileSync } from 'node:child_process';
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli/args.js';
import type { ImageFormat, InputKind } from '../src/cli/inputs.js';
import { ROUTES, directionFor } from '../src/cli/routes/table.js';
import type { ConversionJob, Direction } from '../src/cli/routes/types.js';
import type { OutputKind } from '../src/cli/sinks.js';
import { ignoresRange } from '../src/cli/routes/vhdx-to-raw.js';
import { VhdxError } from '../src/errors.js';
import { openVhdx } from '../src/node/index.js';
import { prepareOutput } from '../src/node/output.js';
import { makeRaw } from './helpers/images.js';
import { tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;

const INPUTS: InputKind[] = ['path', 'stdin', 'url'];
const DIRECTIONS: Direction[] = ['raw->vhdx', 'raw->raw', 'raw->child', 'vhdx->raw', 'vhdx->vhdx', 'vhdx->child'];
const OUTPUTS: OutputKind[] = ['file', 'stdout'];
const VHDX_HEAD = new TextEncoder().encode('vhdxfile');
const settled = (outputFormat?: ImageFormat, inputFormat?: ImageFormat) => ({ outputFormat, inputFormat });

describe('the route table', () => {
  it('has a route function for every input x direction x output, and nothing else', () => {
    expect(Object.keys(ROUTES).sort()).toEqual([...INPUTS].sort());
    for (const input of INPUTS) {
      expect(Object.keys(ROUTES[input]).sort()).toEqual([...DIRECTIONS].sort());
      for (const direction of DIRECTIONS) {
        expect(Object.keys(ROUTES[input][direction]).sort()).toEqual([...OUTPUTS].sort());
        for (const output of OUTPUTS) expect(typeof ROUTES[input][direction][output], `${input} ${direction} ${output}`).toBe('function');
      }
    }
  });

  it('writes a file output at positions, zeros left as holes, and an output that cannot seek (a FIFO) in order', async () => {
    const dir = tempDir('vhdx-routes-');
    try {
      const disk = new Uint8Array(8 * MiB);
      disk.set(makeRaw(MiB, 'data', 3), 5 * MiB);
      const input = join(dir.path, 'disk.raw');
      writeFileSync(input, disk);
      const job: ConversionJob = {
        create: { blockSize: MiB, type: 'fixed' },
        chain: { ignoreLinkage: false },
        parallel: undefined,
        inputFormat: undefined,
        outputFormat: undefined,
        onProgress: undefined,
        notice: () => {},
        refuseReplacingParent: async () => {},
        openImage: (source) => openVhdx(source as string),
      };
      const file = join(dir.path, 'out.vhdx');
      const prepared = await prepareOutput(file);
      await ROUTES.path['raw->vhdx'].file({ path: input }, { kind: 'file', name: file, file: prepared }, job);
      await prepared.commit();
      expect(statSync(file).size).toBeGreaterThan(8 * MiB); // a fixed disk: every block in the file
      expect(statSync(file).blocks * 512).toBeLessThan(4 * MiB); // but its zeros are holes
      const fifo = join(dir.path, 'out.fifo');
      execFileSync('mkfifo', [fifo]);
      const read = readAll(createReadStream(fifo));
      await ROUTES.path['raw->vhdx'].stdout({ path: input }, { kind: 'stdout', path: fifo, name: fifo }, job);
      for (const vhdx of [readFileSync(file), await read]) {
        const image = await openVhdx(vhdx);
        expect(Buffer.from(await image.read(0, disk.length)).equals(disk)).toBe(true);
        await image.close();
      }
    } finally {
      dir.cleanup();
    }
  });

  it('a child onto standard output is refused by its route, whatever the input', async () => {
    for (const input of INPUTS) {
      for (const direction of ['raw->child', 'vhdx->child'] as const) {
        const route = ROUTES[input][direction].stdout as (...args: unknown[]) => Promise<void>;
        await expect(route({}, { kind: 'stdout', name: '-' }, {}), `${input} ${direction}`).rejects.toThrow(/not stdout/);
      }
    }
  });
});

async function readAll(stream: AsyncIterable<Buffer>): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

describe('directionFor', () => {
  it('a VHDX becomes raw, or VHDX again with --to vhdx (or an output named .vhdx)', () => {
    expect(directionFor(VHDX_HEAD, settled())).toBe('vhdx->raw');
    expect(directionFor(VHDX_HEAD, settled('raw'))).toBe('vhdx->raw');
    expect(directionFor(VHDX_HEAD, settled('vhdx'))).toBe('vhdx->vhdx');
  });

  it('anything else becomes a VHDX', () => {
    expect(directionFor(new Uint8Array(8), settled())).toBe('raw->vhdx');
    expect(directionFor(new TextEncoder().encode('vhdxfil'), settled('vhdx'))).toBe('raw->vhdx');
  });

  it('-f replaces what the first bytes say, and the output format follows it', () => {
    expect(directionFor(VHDX_HEAD, settled(undefined, 'raw'))).toBe('raw->vhdx');
    expect(directionFor(new Uint8Array(8), settled('vhdx', 'vhdx'))).toBe('vhdx->vhdx');
    expect(directionFor(new Uint8Array(8), settled(undefined, 'vhdx'))).toBe('vhdx->raw');
  });

  it('an empty input without --to has no direction: a usage error', () => {
    expect(() => directionFor(new Uint8Array(0), settled())).toThrow(UsageError);
    expect(directionFor(new Uint8Array(0), settled('vhdx'))).toBe('raw->vhdx');
  });
});

describe('a server without Range support', () => {
  it('is recognised by its reason, never by the message', () => {
    expect(ignoresRange(new VhdxError('range-not-supported', 'no Range'))).toBe(true);
    expect(ignoresRange(new VhdxError('wasm-unavailable', 'x ignores Range requests'))).toBe(false);
    expect(ignoresRange(new VhdxError('http-status', 'x answered 416 for a Range request'))).toBe(false);
    expect(ignoresRange(new VhdxError('differencing-unsupported', 'differencing disk'))).toBe(false);
    expect(ignoresRange(new Error('Range'))).toBe(false);
  });
});
