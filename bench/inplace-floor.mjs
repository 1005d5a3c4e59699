// The physical floor of an in-place operation, as one Node process: read the
// whole input once (4 MiB at a time) and write `copyBytes` of what was read
// (the input's last bytes) into `output`, then flush it. For compact: the file
// once (as a zero scan reading every stored block would) plus the bytes its
// moves copy; for commit: the child's file once plus writing its data.
// No VHDX work, no log, no cut of the file. `npm run bench inplace` times it
// beside the operation.
// Usage: node bench/inplace-floor.mjs <input> <copyBytes> <output>
import { closeSync, fdatasyncSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

const [input, copyArg, output] = process.argv.slice(2);
const CHUNK = 4 * 1024 * 1024;
const src = openSync(input, 'r');
const dst = openSync(output, 'w');
const size = fstatSync(src).size;
const copyFrom = size - Math.min(size, Number(copyArg));
const buf = Buffer.alloc(CHUNK);
for (let at = 0; at < size; at += CHUNK) {
  const n = readSync(src, buf, 0, Math.min(CHUNK, size - at), at);
  const from = Math.max(at, copyFrom);
  if (from < at + n) writeSync(dst, buf, from - at, at + n - from, from - copyFrom);
}
fdatasyncSync(dst);
closeSync(src);
closeSync(dst);
