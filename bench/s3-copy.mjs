// The upload floor of `npm run bench s3`: an object copied through the same
// client the CLI uses, with none of the conversion's work: read by ranged GETs
// of one part each (4 at once) and uploaded as a multipart upload with the same
// part size and CRC-32C checksums (uploadToS3).
// Usage: node bench/s3-copy.mjs <bucket> <source key> <target key> [part size]
import { s3Source, uploadToS3 } from '../dist/index.js';
import { storeLocation } from './s3-store.mjs';

const [bucket, from, to, partArg] = process.argv.slice(2);
/** @param {string} key */
const at = (key) => storeLocation(bucket ?? '', key);
const partSize = Number(partArg ?? 16 * 1024 * 1024);
const source = await s3Source(at(from ?? ''));
const size = source.size;
let next = 0;
/** Reads ahead: up to 4 parts requested while one is handed on. @type {Promise<Uint8Array>[]} */
const ahead = [];
const request = () => {
  if (next >= size) return;
  const offset = next;
  next += partSize;
  ahead.push(source.read(offset, Math.min(partSize, size - offset)));
};
/** @type {ReadableStream<Uint8Array>} */
const stream = new ReadableStream(
  {
    start() {
      for (let i = 0; i < 4; i++) request();
    },
    async pull(controller) {
      const piece = ahead.shift();
      if (!piece) {
        controller.close();
        return;
      }
      request();
      controller.enqueue(await piece);
    },
  },
  { highWaterMark: 0 },
);
await uploadToS3(stream, { ...at(to ?? ''), outputSize: size, partSize });
await source.close?.();
