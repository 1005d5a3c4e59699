// What the browser tests run inside Chromium, on the main thread and in a
// module Worker, from each bundle. It imports the built default entry (as a
// bundler resolves `vhdx-stream`), and reports plain data back to Node.
import { VhdxDecoderStream, VhdxEncoderStream, VhdxError, crc32c, openVhdx, scanAllocation } from '../../../dist/index.js';
import { DISK_BLOCK, DISK_SIZE, makeDisk } from './disk.js';

/** What one run found; the Node side asserts on it. */
export interface AppReport {
  /** crc32c of "123456789" computed before anything awaited (synchronous kernel load). */
  syncCrc: number;
  present: number[];
  mapped: { outputSize: number; size: number; decodedSame: boolean };
  unmapped: { outputSize: number; size: number; decodedSame: boolean; allocatedBlocks: number };
  info: { virtualSize: number; blockSize: number; type: string; allocatedBlocks: number; blockCount: number; log: string };
  extents: { kind: string; offset: number; length: number }[];
  readsSame: boolean[];
  streamSame: boolean;
  notVhdx: { name: string; code?: string; reason?: string };
}

/** Runs every check; uploads the mapped VHDX to `<base>upload/<label>.vhdx` for Node to read independently. */
export async function runChecks(base: string, label: string): Promise<AppReport> {
  const syncCrc = crc32c(new TextEncoder().encode('123456789'));
  const raw = makeDisk();
  const file = new Blob([raw as Uint8Array<ArrayBuffer>]);

  const allocationMap = await scanAllocation(file, { blockSize: DISK_BLOCK });
  const mappedEncoder = new VhdxEncoderStream({ allocationMap });
  const vhdx = await new Response(file.stream().pipeThrough(mappedEncoder)).blob();
  const mappedBack = await decode(vhdx);

  const fullEncoder = new VhdxEncoderStream({ virtualSize: DISK_SIZE, blockSize: DISK_BLOCK });
  const full = await new Response(file.stream().pipeThrough(fullEncoder)).blob();
  const fullBack = await decode(full);
  const fullImage = await openVhdx(full);
  const fullAllocated = fullImage.info.allocatedBlocks;
  await fullImage.close();

  const image = await openVhdx(vhdx);
  const ranges: [number, number][] = [
    [0, 512],
    [DISK_BLOCK - 100, 200], // across a block boundary into an all-zero block
    [3 * DISK_BLOCK - 4096, 4096], // ends on the lone byte
    [4 * DISK_BLOCK - 7, 2 * DISK_BLOCK + 14], // several blocks, unaligned, into the short last one
    [DISK_SIZE - 1000, 1000], // the short last block
  ];
  const readsSame: boolean[] = [];
  for (const [offset, length] of ranges) readsSame.push(same(await image.read(offset, length), raw.subarray(offset, offset + length)));
  const streamed = new Uint8Array(await new Response(image.stream()).arrayBuffer());
  const { info } = image;
  const extents = image.extents().map(({ kind, offset, length }) => ({ kind, offset, length }));
  await image.close();

  let notVhdx: AppReport['notVhdx'] = { name: 'no error' };
  try {
    await openVhdx(new Blob([raw.subarray(0, 2 * DISK_BLOCK) as Uint8Array<ArrayBuffer>]));
  } catch (err) {
    notVhdx = err instanceof VhdxError ? { name: 'VhdxError', code: err.code, reason: err.reason } : { name: String(err) };
  }

  const upload = await fetch(`${base}upload/${label}.vhdx`, { method: 'PUT', body: vhdx });
  if (!upload.ok) throw new Error(`upload failed: ${upload.status}`);
  return {
    syncCrc,
    present: [...allocationMap.present],
    mapped: { outputSize: mappedEncoder.outputSize, size: vhdx.size, decodedSame: same(mappedBack, raw) },
    unmapped: { outputSize: fullEncoder.outputSize, size: full.size, decodedSame: same(fullBack, raw), allocatedBlocks: fullAllocated },
    info: {
      virtualSize: info.virtualSize,
      blockSize: info.blockSize,
      type: info.type,
      allocatedBlocks: info.allocatedBlocks,
      blockCount: info.blockCount,
      log: info.log.state,
    },
    extents,
    readsSame,
    streamSame: same(streamed, raw),
    notVhdx,
  };
}

async function decode(vhdx: Blob): Promise<Uint8Array> {
  return new Uint8Array(await new Response(vhdx.stream().pipeThrough(new VhdxDecoderStream())).arrayBuffer());
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
