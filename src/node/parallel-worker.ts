// One worker thread of a parallel conversion (see parallel.ts): it opens the
// raw input once (a file read at positions, or a URL or object by ranged
// GETs) and then, task by task, scans a range of blocks, or renders one part
// of the plan and writes it at its offset in the output file (all-zero
// stretches left as holes) or uploads it as its part of the multipart upload.
import { open } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { VhdxError, asVhdxError } from '../errors.js';
import { httpSource } from '../sources/http.js';
import { uploadS3Part } from '../sources/s3.js';
import { s3Fetch } from '../sources/s3-object.js';
import { scanSource } from '../sources/scan.js';
import type { ReadableFile } from '../sources/types.js';
import { renderVhdxPart } from '../streams/parts.js';
import { isAllZero } from '../wasm/kernels.js';
import { readFully, writeFully } from './file-io.js';
import { openNodeSource } from './file-source.js';
import type { ParallelSetup, ParallelTask, WorkerReply } from './parallel.js';

const setup = workerData as ParallelSetup;
const { input, plan, output } = setup;

/** Stretches of a part written as one write, or left a hole when all zero. */
const WRITE_GRAIN = 64 * 1024;

/** `make()` on the first call; its promise from then on. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    if (!made) made = make();
    return made;
  };
}

const openInput = (): Promise<ReadableFile> =>
  input.kind === 'path' ? openNodeSource(input.path) : httpSource(input.url, input.s3 ? { fetch: s3Fetch(input.s3) } : {});
/** The input as the parts read it, opened once per worker. */
const inputForParts = once(openInput);
const rawFile = once(() => open(input.kind === 'path' ? input.path : '', 'r'));
/** `length` bytes of the raw disk at `offset`; past the input, zeros (a --size larger than the input). */
async function readRaw(offset: number, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  const readable = Math.max(0, Math.min(length, input.size - offset));
  if (readable === 0) return bytes;
  if (input.kind === 'path') {
    const fh = await rawFile();
    const n = await readFully(fh, bytes.subarray(0, readable), offset);
    if (n !== readable)
      throw new VhdxError('source-truncated', `${input.path} ended at ${offset + n}`, { structure: 'input', offset: offset + n });
  } else {
    bytes.set(await (await inputForParts()).read(offset, readable));
  }
  return bytes;
}

const outputFile = once(() => open(output?.kind === 'file' ? output.path : '', 'r+'));
async function writePart(bytes: Uint8Array, offset: number, path: string): Promise<void> {
  const fh = await outputFile().catch((err) => {
    throw asVhdxError(err, 'write-failed', `cannot open ${path}`);
  });
  for (let at = 0; at < bytes.length; ) {
    // one write over the following non-zero grains; all-zero grains stay holes
    let end = at;
    while (end < bytes.length && !isAllZero(bytes.subarray(end, end + WRITE_GRAIN))) end += WRITE_GRAIN;
    end = Math.min(end, bytes.length);
    if (end > at) {
      await writeFully(fh, bytes.subarray(at, end), offset + at).catch((err) => {
        throw asVhdxError(err, 'write-failed', `cannot write ${path}`);
      });
    }
    at = Math.max(end, at + WRITE_GRAIN);
  }
}

async function run(task: ParallelTask): Promise<WorkerReply> {
  if (task.kind === 'scan') {
    const map = await scanSource(await openInput(), { blockSize: task.blockSize, blocks: { first: task.first, end: task.end } });
    return { kind: 'scan', present: map.present.subarray(task.first, task.end) };
  }
  const part = await renderVhdxPart(plan!, task.index, readRaw);
  if (output!.kind === 'file') {
    await writePart(part.bytes, part.offset, output!.path);
    return { kind: 'part', etag: '', crc: part.crc, length: part.bytes.length };
  }
  const stored = await uploadS3Part(output!.options, task.uploadId!, task.index + 1, part.bytes, part.crc);
  return { kind: 'part', ...stored };
}

parentPort!.on('message', (task: ParallelTask) => {
  run(task).then(
    (reply) => parentPort!.postMessage(reply),
    (err: unknown) => {
      const e = asVhdxError(err, 'read-failed', 'cannot read the input');
      parentPort!.postMessage({ kind: 'error', reason: e.reason, message: e.message } satisfies WorkerReply);
    },
  );
});
