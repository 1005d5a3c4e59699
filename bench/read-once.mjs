// The floor without hole skipping: read a file once, whole, in 4 MiB
// positional reads into one buffer, doing nothing with the bytes.
// Usage: node bench/read-once.mjs <file>
import { open } from 'node:fs/promises';

const fh = await open(process.argv[2], 'r');
const buf = new Uint8Array(4 * 1024 * 1024);
for (let at = 0; ; ) {
  const { bytesRead } = await fh.read(buf, 0, buf.length, at);
  if (bytesRead === 0) break;
  at += bytesRead;
}
await fh.close();
