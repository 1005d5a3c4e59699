// The converter page's byte plumbing (web/src), run in Node: the data runs
// that VHDX -> raw writes into a file sized with zeros.
import { describe, expect, it } from 'vitest';
import { init } from 'vhdx-stream';
import { HOLE_GRAIN, dataRuns } from '../web/src/holes.js';

describe('dataRuns (web/src/holes.ts)', () => {
  it('joins non-zero grains aligned to the disk into runs and leaves zero grains out', async () => {
    await init();
    const bytes = new Uint8Array(8 * HOLE_GRAIN);
    bytes[10] = 1; // grain 0 (disk offset 1000 + 10)
    bytes[HOLE_GRAIN] = 2; // the disk's grain 1 (the piece starts 1000 bytes into grain 0): joined to the first run
    bytes[5 * HOLE_GRAIN] = 3;
    bytes[8 * HOLE_GRAIN - 1] = 4; // the piece's last byte
    const first = HOLE_GRAIN - 1000; // where the disk's next grain starts in `bytes`
    expect(dataRuns(bytes, 1000)).toEqual([
      [0, first + HOLE_GRAIN],
      [first + 4 * HOLE_GRAIN, first + 5 * HOLE_GRAIN],
      [first + 7 * HOLE_GRAIN, 8 * HOLE_GRAIN],
    ]);
    expect(dataRuns(new Uint8Array(3 * HOLE_GRAIN), 0)).toEqual([]);
    expect(dataRuns(bytes.subarray(0, 100), 0)).toEqual([[0, 100]]);
  });
});
