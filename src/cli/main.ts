// The `vhdx` command line: convert, info, check.
import { fstatSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { VhdxError, asVhdxError, type VhdxErrorCode } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { hasVhdxSignature } from '../format/identifier.js';
import type { VhdxImage } from '../image/image.js';
import type { VhdxInfo } from '../image/types.js';
import type { VhdxCreateOptions } from '../layout/options.js';
import { VhdxDecoderStream } from '../streams/decoder.js';
import { VhdxEncoderStream } from '../streams/encoder.js';
import { isAllZero } from '../wasm/kernels.js';
import { ready } from '../wasm/instance.js';
import { WriteBatch } from '../streams/write-batch.js';
import { convertRawChunksToVhdx, convertRawFileToVhdx, convertVhdxFileToRaw, encodeRawChunks } from '../node/convert.js';
import { openNodeSource } from '../node/file-source.js';
import { VhdxWriterStream, checkVhdx, openVhdx, scanAllocation } from '../node/index.js';
import { readChunks } from '../node/fd-reader.js';
import { appendFully, writeFully } from '../node/file-io.js';
import { prepareOutput } from '../node/output.js';
import { Progress } from '../node/progress.js';

const HELP = `vhdx — convert raw disk images to VHDX and back

Usage:
  vhdx convert <input> <output> [options]
  vhdx info <input> [--json]
  vhdx check <input> [--json]

<input> is a file path, - for stdin, or an http(s) URL; <output> is a path or - for stdout.
The direction follows the input: a VHDX ("vhdxfile" signature) becomes raw, anything
else becomes VHDX. --to overrides it (VHDX to VHDX re-blocks or changes the type).

Convert options:
  --to raw|vhdx                 output format
  --type dynamic|fixed          VHDX type (default dynamic)
  --block-size N                block size: bytes or 1M, 32M, ... (default 8M; 32M over 4 TiB)
  --logical-sector-size 512|4096
  --physical-sector-size 512|4096
  --log-size N                  log size (default 1M)
  --size N                      virtual size, when the input size cannot be known (stdin to stdout)
  --progress                    show progress on stderr (default when stderr is a terminal)
  --debug                       show stack traces on errors

Exit codes: 0 success; 1 not a valid or supported VHDX, or check found problems;
2 usage or I/O error.`;

class UsageError extends Error {}

/** Parses "32M", "1G", "4096" into bytes. */
export function parseSize(text: string, name: string): number {
  const m = /^(\d+)([kmgt]i?b?)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${name}: not a size: ${text}`);
  const unit = (m[2] ?? '').charAt(0).toLowerCase();
  const scale = { '': 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB }[unit] ?? 1;
  const n = Number(m[1]) * scale;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${name}: too large: ${text}`);
  return n;
}

function exitCodeOf(code: VhdxErrorCode): number {
  return code === 'INVALID_ARGUMENT' || code === 'IO' ? 2 : 1;
}

type Input = { kind: 'stdin' } | { kind: 'url'; url: string } | { kind: 'path'; path: string };

function classify(arg: string): Input {
  if (arg === '-') return { kind: 'stdin' };
  if (/^https?:\/\//i.test(arg)) return { kind: 'url', url: arg };
  return { kind: 'path', path: arg };
}

/** Standard input, read into reused buffers, with its first chunk in hand. */
interface Stdin {
  first: Uint8Array;
  /** Every chunk, the first included; each valid until the next is asked for. */
  chunks: AsyncIterable<Uint8Array>;
}

async function openStdin(): Promise<Stdin> {
  const rest = readChunks(0);
  const head = await rest.next();
  const first = head.done ? new Uint8Array(0) : head.value;
  return {
    first,
    chunks: (async function* () {
      if (first.length) yield first;
      yield* rest;
    })(),
  };
}

/** Chunks as a web stream of copies, for consumers that keep chunks (the decoder's reorder buffer). */
function copiedStream(chunks: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value.slice());
    },
    async cancel() {
      await it.return?.();
    },
  });
}

async function fetchStream(url: string, range?: string): Promise<{ stream: ReadableStream<Uint8Array>; size: number | undefined }> {
  let res: Response;
  try {
    res = await fetch(url, range ? { headers: { Range: range } } : {});
  } catch (err) {
    throw asVhdxError(err, 'IO', `cannot fetch ${url}`);
  }
  if (!res.ok || !res.body) throw new VhdxError('IO', `${url} answered ${res.status} ${res.statusText}`);
  const len = res.headers.get('content-length');
  return { stream: res.body as ReadableStream<Uint8Array>, size: len === null ? undefined : Number(len) };
}

async function firstBytes(input: Input): Promise<Uint8Array> {
  if (input.kind === 'stdin') throw new Error('unreachable');
  if (input.kind === 'url') {
    // works whether or not the server honours Range
    const { stream } = await fetchStream(input.url, 'bytes=0-7');
    const reader = stream.getReader();
    const { value } = await reader.read();
    await reader.cancel();
    return value ?? new Uint8Array(0);
  }
  const src = await openNodeSource(input.path);
  try {
    return await src.read(0, Math.min(8, src.size));
  } finally {
    await src.close?.();
  }
}

/** Writes in order at explicit positions, small pieces gathered into 1 MiB writes. */
function sequentialWriter(write: (data: Uint8Array, position: number) => Promise<void>, end?: () => Promise<void>) {
  let position = 0;
  const batch = new WriteBatch(write);
  return {
    async write(data: Uint8Array): Promise<void> {
      await batch.add(data, position);
      position += data.length;
    },
    async end(): Promise<void> {
      await batch.flush();
      await end?.();
    },
  };
}

/**
 * Standard output as a sequential writer. When it is a regular file the
 * writes go through the thread pool at its current offset (process.stdout
 * would write to a file synchronously, stalling the reads).
 */
function stdoutWriter(): ReturnType<typeof sequentialWriter> {
  if (fstatSync(1).isFile()) return sequentialWriter((data) => appendFully(1, data));
  return sequentialWriter(
    (data) =>
      new Promise<void>((resolve, reject) =>
        process.stdout.write(data, (err) => (err ? reject(asVhdxError(err, 'IO', 'cannot write to standard output')) : resolve())),
      ),
  );
}

function asSink(writer: ReturnType<typeof sequentialWriter>, abort?: () => Promise<void>): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({ write: (chunk) => writer.write(chunk), close: () => writer.end(), abort: () => abort?.() });
}

function stdoutSink(): WritableStream<Uint8Array> {
  return asSink(stdoutWriter());
}

/** A new file as a sink, written in order. */
function fileSink(path: string): WritableStream<Uint8Array> {
  const opened = open(path, 'w').catch((err) => {
    throw asVhdxError(err, 'IO', `cannot create ${path}`);
  });
  opened.catch(() => {}); // reported by the first write
  const close = async () => (await opened).close();
  return asSink(sequentialWriter(async (data, position) => writeFully(await opened, data, position), close), close);
}

/** A sink writing a raw disk to a file, leaving zero chunks as holes. */
function sparseRawFileSink(path: string): WritableStream<Uint8Array> {
  let fh: import('node:fs/promises').FileHandle;
  let pos = 0;
  return new WritableStream<Uint8Array>({
    async start() {
      fh = await open(path, 'w').catch((err) => {
        throw asVhdxError(err, 'IO', `cannot create ${path}`);
      });
    },
    async write(chunk) {
      if (!isAllZero(chunk)) await writeFully(fh, chunk, pos);
      pos += chunk.length;
    },
    async close() {
      await fh.truncate(pos);
      await fh.close();
    },
    async abort() {
      await fh?.close().catch(() => {});
    },
  });
}

interface ConvertFlags extends VhdxCreateOptions {
  to?: 'raw' | 'vhdx';
  progress: boolean;
}

async function convert(inArg: string, outArg: string, flags: ConvertFlags): Promise<void> {
  const input = classify(inArg);
  const output = outArg === '-' ? undefined : await prepareOutput(outArg);
  const created = output?.path;
  // Ctrl-C or a kill: drop the temporary output, then die of the same
  // signal (what shells and callers expect from an interrupted command)
  const onSignal = (signal: NodeJS.Signals) => {
    output?.discardSync();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = flags.progress ? new Progress(process.stderr) : undefined;
  const onProgress = progress ? (d: number, t: number) => progress.update(d, t) : undefined;
  const images: VhdxImage[] = []; // closed at the end, whatever happens
  let failed = false;
  const openImage = async (source: Parameters<typeof openVhdx>[0]) => {
    const image = await openVhdx(source);
    images.push(image);
    return image;
  };
  try {
    let stdin: Stdin | undefined;
    let head: Uint8Array;
    if (input.kind === 'stdin') {
      stdin = await openStdin();
      head = stdin.first;
    } else head = await firstBytes(input);
    const isVhdx = hasVhdxSignature(head);
    const to = flags.to ?? (isVhdx ? 'raw' : 'vhdx');
    if (flags.to === undefined && !isVhdx && head.length === 0) throw new UsageError('the input is empty');
    const create: VhdxCreateOptions = { ...flags };

    if (isVhdx && to === 'raw') {
      if (input.kind === 'path' && created) {
        await convertVhdxFileToRaw(input.path, created, onProgress ? { onProgress } : {});
        return;
      }
      let raw: ReadableStream<Uint8Array>;
      if (input.kind === 'stdin') raw = copiedStream(stdin!.chunks).pipeThrough(new VhdxDecoderStream());
      else if (input.kind === 'url') {
        // Range reads when the server has them; otherwise one streamed pass
        const image = await openImage(input.url).catch((err) => {
          if (err instanceof VhdxError && err.code === 'UNSUPPORTED' && /Range/.test(err.message)) return undefined;
          throw err;
        });
        raw = image ? image.stream() : (await fetchStream(input.url)).stream.pipeThrough(new VhdxDecoderStream());
      } else raw = (await openImage(input.path)).stream();
      await raw.pipeTo(created ? sparseRawFileSink(created) : stdoutSink());
      return;
    }

    if (!isVhdx && input.kind === 'stdin') {
      // raw on stdin goes from reused buffers straight into the file or the
      // encoder, with no allocation per chunk
      const withProgress = { ...create, ...(onProgress ? { onProgress } : {}) };
      if (created) {
        if (create.type === 'fixed' && create.virtualSize === undefined) throw new UsageError('--size is needed for a fixed disk from stdin');
        await convertRawChunksToVhdx(stdin!.chunks, created, withProgress);
        return;
      }
      if (create.virtualSize === undefined) throw new UsageError('--size is needed: the input size cannot be known up front');
      const out = stdoutWriter();
      await encodeRawChunks(stdin!.chunks, { ...create, virtualSize: create.virtualSize }, out.write, onProgress);
      await out.end();
      return;
    }

    // to VHDX: the raw source is a file, a URL, or a VHDX's disk
    let rawStream: ReadableStream<Uint8Array>;
    let rawSize: number | undefined;
    if (isVhdx) {
      const image = await openImage(input.kind === 'url' ? input.url : input.kind === 'path' ? input.path : await bufferAll(copiedStream(stdin!.chunks)));
      rawStream = image.stream();
      rawSize = image.info.virtualSize;
      create.blockSize ??= image.info.blockSize;
      create.logicalSectorSize ??= image.info.logicalSectorSize as 512 | 4096;
      create.physicalSectorSize ??= image.info.physicalSectorSize as 512 | 4096;
    } else if (input.kind === 'path') {
      if (created) {
        await convertRawFileToVhdx(input.path, created, { ...create, ...(onProgress ? { onProgress } : {}) });
        return;
      }
      await rawFileToStdout(input.path, create, onProgress);
      return;
    } else if (input.kind === 'url') {
      const f = await fetchStream(input.url);
      rawStream = f.stream;
      rawSize = f.size;
    } else {
      throw new Error('unreachable: raw on stdin is handled above');
    }
    const sector = create.logicalSectorSize ?? 512;
    const virtualSize = create.virtualSize ?? (rawSize === undefined ? undefined : Math.ceil(rawSize / sector) * sector);

    if (created && create.type !== 'fixed') {
      const sink = new VhdxWriterStream(created, { ...create, ...(virtualSize === undefined ? {} : { virtualSize }) });
      await counted(rawStream, virtualSize, onProgress).pipeTo(sink);
      return;
    }
    if (virtualSize === undefined) throw new UsageError('--size is needed: the input size cannot be known up front');
    const encoder = new VhdxEncoderStream({ ...create, virtualSize });
    const padded = rawSize !== undefined && rawSize < virtualSize && create.virtualSize === undefined ? padTo(rawStream, virtualSize - rawSize) : rawStream;
    await counted(padded, virtualSize, onProgress)
      .pipeThrough(encoder)
      .pipeTo(created ? fileSink(created) : stdoutSink());
  } catch (err) {
    failed = true;
    await output?.discard();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const image of images) await image.close().catch(() => {});
    progress?.done();
    if (!failed) {
      try {
        await output?.commit();
      } catch (err) {
        await output?.discard();
        throw asVhdxError(err, 'IO', `cannot put ${outArg} in place`);
      }
    }
  }
}

/**
 * A raw file as a VHDX on stdout: scanned first, so that a dynamic disk
 * leaves its all-zero blocks out, then read into reused buffers.
 */
async function rawFileToStdout(path: string, create: VhdxCreateOptions, onProgress?: (d: number, t: number) => void): Promise<void> {
  const size = (await stat(path)).size;
  const sector = create.logicalSectorSize ?? 512;
  const virtualSize = create.virtualSize ?? Math.ceil(size / sector) * sector;
  // a file that is not a whole number of sectors ends in zeros, unless --size asked for more
  const tail = create.virtualSize === undefined ? virtualSize - size : 0;
  const scanned = create.type !== 'fixed' ? await scanAllocation(path, create.blockSize ? { blockSize: create.blockSize } : {}) : undefined;
  // the map describes the file; those zeros never change which blocks hold data
  const allocationMap = scanned && { ...scanned, virtualSize: scanned.virtualSize + tail };
  const fh = await open(path, 'r');
  try {
    const out = stdoutWriter();
    const options = { ...create, virtualSize, ...(allocationMap ? { allocationMap } : {}) };
    await encodeRawChunks(withZeroTail(readChunks(fh.fd), tail), options, out.write, onProgress);
    await out.end();
  } finally {
    await fh.close();
  }
}

async function* withZeroTail(chunks: AsyncIterable<Uint8Array>, zeros: number): AsyncGenerator<Uint8Array, void, undefined> {
  yield* chunks;
  if (zeros > 0) yield new Uint8Array(zeros);
}

async function bufferAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) parts.push(c);
  return Buffer.concat(parts);
}

/** Appends `extra` zero bytes (a raw file whose size is not a sector multiple). */
function padTo(stream: ReadableStream<Uint8Array>, extra: number): ReadableStream<Uint8Array> {
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush(c) {
        c.enqueue(new Uint8Array(extra));
      },
    }),
  );
}

function counted(stream: ReadableStream<Uint8Array>, total: number | undefined, onProgress?: (d: number, t: number) => void): ReadableStream<Uint8Array> {
  if (!onProgress) return stream;
  let done = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        done += chunk.length;
        onProgress(done, total ?? 0);
        c.enqueue(chunk);
      },
    }),
  );
}

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** The stable JSON shape of `vhdx info --json`. */
export function infoJson(info: VhdxInfo): Record<string, unknown> {
  return {
    virtualSize: info.virtualSize,
    blockSize: info.blockSize,
    logicalSectorSize: info.logicalSectorSize,
    physicalSectorSize: info.physicalSectorSize,
    type: info.type,
    logDirty: info.log.state === 'dirty',
    log: { ...info.log },
    creator: info.creator,
    fileWriteGuid: info.fileWriteGuid,
    dataWriteGuid: info.dataWriteGuid,
    virtualDiskId: info.virtualDiskId,
    allocatedBlocks: info.allocatedBlocks,
    allocatedBytes: info.allocatedBytes,
    blockCount: info.blockCount,
    fileSize: info.fileSize,
    currentHeader: info.currentHeader,
    headerSequenceNumber: info.headerSequenceNumber.toString(),
    regions: info.regions.map((r) => ({ name: r.name, offset: r.offset, length: r.length })),
    ...(info.parentLocator ? { parentLocator: info.parentLocator } : {}),
  };
}

function inputFor(arg: string): string {
  if (arg === '-') throw new UsageError('info and check need a file or URL, not stdin');
  return arg;
}

async function info(arg: string, json: boolean): Promise<number> {
  const image = await openVhdx(inputFor(arg));
  try {
    const i = image.info;
    if (json) {
      process.stdout.write(JSON.stringify(infoJson(i), null, 2) + '\n');
      return 0;
    }
    const lines = [
      `virtual size:      ${human(i.virtualSize)} (${i.virtualSize} bytes)`,
      `type:              ${i.type}`,
      `block size:        ${human(i.blockSize)}`,
      `sector size:       ${i.logicalSectorSize} logical, ${i.physicalSectorSize} physical`,
      `allocated:         ${human(i.allocatedBytes)} in ${i.allocatedBlocks} of ${i.blockCount} blocks`,
      `log:               ${i.log.state}${i.log.state === 'dirty' ? ` (${i.log.entriesReplayed} entries, ${i.log.sectorsReplayed} sectors replayed in memory)` : ''}`,
      `creator:           ${i.creator || '(none)'}`,
      `virtual disk id:   ${i.virtualDiskId}`,
      `file write guid:   ${i.fileWriteGuid}`,
      `data write guid:   ${i.dataWriteGuid}`,
      `current header:    ${i.currentHeader} (sequence ${i.headerSequenceNumber})`,
      `file size:         ${i.fileSize === undefined ? 'unknown' : `${human(i.fileSize)} (${i.fileSize} bytes)`}`,
      `regions:`,
      ...i.regions.map((r) => `  ${r.name.padEnd(9)} offset ${human(r.offset).padEnd(10)} length ${human(r.length)}`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await image.close();
  }
}

async function check(arg: string, json: boolean): Promise<number> {
  const report = await checkVhdx(inputFor(arg));
  if (json) {
    process.stdout.write(JSON.stringify({ ok: report.ok, problems: report.problems }, null, 2) + '\n');
  } else if (report.ok) {
    process.stdout.write('No problems found.\n');
  } else {
    for (const p of report.problems) {
      const at = p.offset === undefined ? '' : ` at offset ${p.offset} (0x${p.offset.toString(16)})`;
      process.stdout.write(`${p.code}${at}: ${p.message}\n`);
    }
    process.stdout.write(`${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} found.\n`);
  }
  return report.ok ? 0 : 1;
}

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let debug = argv.includes('--debug');
  // A reader that goes away (`| head`) makes stdout emit EPIPE as an 'error'
  // event, which would crash the process with a stack trace. The write that
  // hit it rejects on its own (a conversion then ends with one IO line);
  // output of info/check that nobody reads is simply dropped.
  process.stdout.on('error', () => {});
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        debug: { type: 'boolean' },
        progress: { type: 'boolean' },
        to: { type: 'string' },
        type: { type: 'string' },
        'block-size': { type: 'string' },
        'logical-sector-size': { type: 'string' },
        'physical-sector-size': { type: 'string' },
        'log-size': { type: 'string' },
        size: { type: 'string' },
      },
    });
    debug = !!values.debug;
    const [command, ...rest] = positionals;
    if (values.help || command === 'help' || command === undefined) {
      process.stdout.write(HELP + '\n');
      return command === undefined && !values.help ? 2 : 0;
    }
    await ready();
    if (command === 'info' || command === 'check') {
      if (rest.length !== 1) throw new UsageError(`${command} takes one input`);
      return command === 'info' ? await info(rest[0]!, !!values.json) : await check(rest[0]!, !!values.json);
    }
    if (command !== 'convert') throw new UsageError(`unknown command "${command}" (try --help)`);
    if (rest.length !== 2) throw new UsageError('convert takes an input and an output');
    const to = values.to;
    if (to !== undefined && to !== 'raw' && to !== 'vhdx') throw new UsageError('--to must be raw or vhdx');
    const type = values.type;
    if (type !== undefined && type !== 'dynamic' && type !== 'fixed') throw new UsageError('--type must be dynamic or fixed');
    const sector = (v: string | undefined, name: string) => {
      if (v === undefined) return undefined;
      if (v !== '512' && v !== '4096') throw new UsageError(`${name} must be 512 or 4096`);
      return Number(v) as 512 | 4096;
    };
    const flags: ConvertFlags = {
      progress: values.progress ?? !!process.stderr.isTTY,
      ...(to ? { to } : {}),
      ...(type ? { type } : {}),
      ...(values['block-size'] ? { blockSize: parseSize(values['block-size'], '--block-size') } : {}),
      ...(values['log-size'] ? { logSize: parseSize(values['log-size'], '--log-size') } : {}),
      ...(values.size ? { virtualSize: parseSize(values.size, '--size') } : {}),
    };
    const lss = sector(values['logical-sector-size'], '--logical-sector-size');
    const pss = sector(values['physical-sector-size'], '--physical-sector-size');
    if (lss) flags.logicalSectorSize = lss;
    if (pss) flags.physicalSectorSize = pss;
    await convert(rest[0]!, rest[1]!, flags);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`vhdx: error[USAGE]: ${err.message}\n`);
      return 2;
    }
    const e = asVhdxError(err, 'IO', 'failed');
    process.stderr.write(`vhdx: error[${e.code}]: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`);
    if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return exitCodeOf(e.code);
  }
}
