// The conversions the page runs in its Worker (and the browser bench runs
// too), written against the library's public entry only. Inputs are a File
// (read as a Blob) or, for files already in OPFS, an access-handle source.
import {
  VhdxDecoderStream,
  VhdxEncoderStream,
  VhdxWriterStream,
  openVhdx,
  scanAllocation,
  type AllocationMap,
  type Extent,
  type RandomAccessSource,
} from 'vhdx-stream';
import { inputChunks } from './chunks.js';
import { dataRuns } from './holes.js';
import { BlobSink, countBytes, padTo, positional, yieldToEvents, type ProgressFn, type SeekableOutput } from './io.js';

export interface ConvertOptions {
  signal: AbortSignal;
  onProgress: ProgressFn;
  /** Block size of a VHDX being created (default: the library's). */
  blockSize?: number;
}

/** A chosen file, or an OPFS file read through its access handle. */
export type ConvertInput = Blob | RandomAccessSource;

const SECTOR = 512;
const MiB = 1024 * 1024;
// raw -> VHDX reads in chunks this large; VHDX -> raw reads stored blocks in
// pieces this large, this many in flight: each Blob read pays a round trip to
// the browser process
const PIECE = 8 * MiB;
const AHEAD = 4;

/**
 * raw -> sparse dynamic VHDX on a seekable output: one pass, blocks placed as
 * their data arrives, headers written last. The input is read in whole chunks
 * into reused buffers, the next read while the current chunk is written. The
 * writer closes the output (or gives it up after a failure or a cancel).
 */
export async function rawToVhdxSeekable(input: ConvertInput, output: SeekableOutput, options: ConvertOptions): Promise<number> {
  const sink = new VhdxWriterStream(output, options.blockSize ? { blockSize: options.blockSize } : {});
  const writer = sink.getWriter();
  try {
    options.onProgress(0, input.size, 'converting');
    let done = 0;
    let last = 0;
    // a chunk's buffer is read into again once the next chunk is asked for: each write is awaited first
    for await (const chunk of inputChunks(input, PIECE)) {
      options.signal.throwIfAborted();
      await writer.write(chunk);
      done += chunk.length;
      if (performance.now() - last > 100) {
        last = performance.now();
        options.onProgress(done, input.size, 'converting');
        await yieldToEvents(); // a Cancel may be waiting
      }
    }
    options.signal.throwIfAborted();
    await writer.close();
    options.onProgress(done, input.size, 'converting');
  } catch (err) {
    await writer.abort(err).catch(() => {});
    throw err;
  }
  return (await sink.result).fileSize;
}

/**
 * raw -> dynamic VHDX as a Blob (for a download): a first pass finds the
 * all-zero blocks so the encoder leaves them out, a second encodes.
 */
export async function rawToVhdxBlob(file: Blob, options: ConvertOptions): Promise<Blob> {
  const virtualSize = Math.ceil(file.size / SECTOR) * SECTOR;
  const allocationMap = await scanInSlices(file, virtualSize, options);
  const encoder = new VhdxEncoderStream({ allocationMap });
  const sink = new BlobSink();
  await file
    .stream()
    .pipeThrough(padTo(virtualSize - file.size))
    .pipeThrough(countBytes(virtualSize, 'converting', options.onProgress))
    .pipeThrough(encoder)
    .pipeTo(sink.writable, { signal: options.signal });
  return sink.blob();
}

/**
 * Scans for all-zero blocks a few blocks at a time (scanAllocation over Blob
 * slices), so the page shows progress and a Cancel lands between slices.
 */
async function scanInSlices(file: Blob, virtualSize: number, options: ConvertOptions): Promise<AllocationMap> {
  // the encoder's plan says which block size it would choose for this disk
  const blockSize = new VhdxEncoderStream({ virtualSize, ...(options.blockSize ? { blockSize: options.blockSize } : {}) }).layout.blockSize;
  const present = new Uint8Array(Math.ceil(virtualSize / blockSize));
  const step = Math.max(1, Math.floor((64 * MiB) / blockSize)) * blockSize;
  for (let start = 0; start < file.size; start += step) {
    options.signal.throwIfAborted();
    options.onProgress(start, file.size, 'finding empty blocks');
    const map = await scanAllocation(file.slice(start, start + step), { blockSize });
    present.set(map.present, start / blockSize);
  }
  options.signal.throwIfAborted();
  return { virtualSize, blockSize, present };
}

/**
 * VHDX -> raw on a seekable output, sparse: only the stored blocks are read
 * (several reads in flight) and only their non-zero grains written (see
 * dataRuns); the final truncate sets the size, so every stretch never written
 * reads as zeros. The output is closed here.
 */
export async function vhdxToRawSeekable(input: ConvertInput, output: SeekableOutput, options: ConvertOptions): Promise<number> {
  const image = await openVhdx(input);
  const size = image.info.virtualSize;
  const out = positional(output);
  const reads: Promise<{ piece: Piece; bytes: Uint8Array }>[] = [];
  // the buffers are reused: memory stays at AHEAD + 1 pieces whatever the disk's size
  const free: Uint8Array[] = Array.from({ length: AHEAD + 1 }, () => new Uint8Array(PIECE));
  try {
    await out.truncate(0);
    const pieces = dataPieces(image.extents(), PIECE);
    let next = 0;
    const issue = () => {
      while (reads.length < AHEAD && next < pieces.length) {
        const piece = pieces[next++]!;
        const bytes = free.pop()!.subarray(0, piece.length);
        reads.push(image.readFileRange(piece.fileOffset, bytes).then(() => ({ piece, bytes })));
      }
    };
    options.onProgress(0, size, 'converting');
    issue();
    let last = 0;
    while (reads.length > 0) {
      const { piece, bytes } = await reads.shift()!;
      options.signal.throwIfAborted();
      for (const [from, to] of dataRuns(bytes, piece.offset)) await out.write(bytes.subarray(from, to), piece.offset + from);
      free.push(new Uint8Array(bytes.buffer));
      issue();
      if (performance.now() - last > 100) {
        last = performance.now();
        options.onProgress(piece.offset + piece.length, size, 'converting');
        await yieldToEvents(); // a Cancel may be waiting
      }
    }
    await out.truncate(size);
    await out.close();
    options.onProgress(size, size, 'converting');
    return size;
  } catch (err) {
    for (const r of reads) r.catch(() => {}); // reads still in flight after a cancel
    await out.discard().catch(() => {});
    throw err;
  } finally {
    await image.close();
  }
}

/** A stored stretch of the virtual disk: `length` bytes at `offset`, read from `fileOffset`. */
interface Piece {
  offset: number;
  length: number;
  fileOffset: number;
}

/** The data extents cut into pieces of at most `max` bytes; zero and unmapped extents are holes. */
function dataPieces(extents: Extent[], max: number): Piece[] {
  const pieces: Piece[] = [];
  for (const e of extents) {
    if (e.kind !== 'data') continue;
    for (let at = 0; at < e.length; at += max) {
      pieces.push({ offset: e.offset + at, length: Math.min(max, e.length - at), fileOffset: e.fileOffset + at });
    }
  }
  return pieces;
}

/** VHDX -> raw as a Blob (for a download), through the streaming decoder. */
export async function vhdxToRawBlob(file: Blob, options: ConvertOptions): Promise<Blob> {
  const sink = new BlobSink();
  await file
    .stream()
    .pipeThrough(countBytes(file.size, 'converting', options.onProgress))
    .pipeThrough(new VhdxDecoderStream())
    .pipeTo(sink.writable, { signal: options.signal });
  return sink.blob();
}
