// The command line's route table: every (input kind, direction, output kind)
// the command accepts has a route, and the direction follows the input.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli/args.js';
import type { InputKind } from '../src/cli/inputs.js';
import { ROUTES, directionFor } from '../src/cli/routes/table.js';
import type { Direction } from '../src/cli/routes/types.js';
import type { OutputKind } from '../src/cli/sinks.js';
import { ignoresRange } from '../src/cli/routes/vhdx-to-raw.js';
import { VhdxError } from '../src/errors.js';

const INPUTS: InputKind[] = ['path', 'stdin', 'url'];
const DIRECTIONS: Direction[] = ['raw->vhdx', 'raw->raw', 'vhdx->raw', 'vhdx->vhdx'];
const OUTPUTS: OutputKind[] = ['file', 'stdout'];
const VHDX_HEAD = new TextEncoder().encode('vhdxfile');

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

  it('sends files to the pipelined converters and stdout elsewhere, where the two differ', () => {
    for (const direction of ['raw->vhdx', 'vhdx->raw'] as const) {
      expect(ROUTES.path[direction].file).not.toBe(ROUTES.path[direction].stdout);
    }
    expect(ROUTES.stdin['raw->vhdx'].file).not.toBe(ROUTES.stdin['raw->vhdx'].stdout);
  });
});

describe('directionFor', () => {
  it('a VHDX becomes raw, or VHDX again with --to vhdx', () => {
    expect(directionFor(VHDX_HEAD, undefined)).toBe('vhdx->raw');
    expect(directionFor(VHDX_HEAD, 'raw')).toBe('vhdx->raw');
    expect(directionFor(VHDX_HEAD, 'vhdx')).toBe('vhdx->vhdx');
  });

  it('anything else becomes a VHDX', () => {
    expect(directionFor(new Uint8Array(8), undefined)).toBe('raw->vhdx');
    expect(directionFor(new TextEncoder().encode('vhdxfil'), 'vhdx')).toBe('raw->vhdx');
  });

  it('an empty input without --to has no direction: a usage error', () => {
    expect(() => directionFor(new Uint8Array(0), undefined)).toThrow(UsageError);
    expect(directionFor(new Uint8Array(0), 'vhdx')).toBe('raw->vhdx');
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
