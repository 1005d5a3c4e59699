// The I/O floor for raw -> sparse output in Node: read the input in 4 MiB
// chunks (three reads ahead), skip all-zero MiBs, write the rest (one write at
// a time, the way a file's writes serialize in the kernel anyway). No VHDX
// structures, no block placement: whatever a converter in Node must at least
// do. `npm run bench files` times it beside qemu-img.
// Usage: node bench/io-floor.mjs <input> <output>
import { open } from 'node:fs/promises';
import { isAllZero } from '../dist/index.js';

const [input, output] = process.argv.slice(2);
const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const AHEAD = 3;
const src = await open(input, 'r');
const dst = await open(output, 'w');
const size = (await src.stat()).size;
const free = Array.from({ length: AHEAD + 3 }, () => new Uint8Array(CHUNK));
const waiting = [];
const take = () => (free.length ? Promise.resolve(free.pop()) : new Promise((r) => waiting.push(r)));
const give = (b) => (waiting.length ? waiting.shift()(b) : free.push(b));
const reads = [];
let next = 0;
const issue = () => {
  if (next >= size) return;
  const at = next;
  const n = Math.min(CHUNK, size - at);
  next += n;
  reads.push({
    at,
    n,
    buf: take().then(async (b) => {
      await src.read(b, 0, n, at);
      return b;
    }),
  });
};
let writing = Promise.resolve();
for (let i = 0; i < AHEAD; i++) issue();
while (reads.length) {
  const { at, n, buf } = reads.shift();
  const b = await buf;
  issue();
  const mine = [];
  for (let m = 0; m < n; m += MiB) {
    const piece = b.subarray(m, Math.min(n, m + MiB));
    if (isAllZero(piece)) continue;
    writing = writing.then(async () => void (await dst.write(piece, 0, piece.length, at + m)));
    mine.push(writing);
  }
  Promise.all(mine).then(() => give(b));
}
await writing;
await dst.truncate(size);
await src.close();
await dst.close();
