// How every command names its input, and where a conversion reads from. An
// argument is `-` (standard input), an http(s) URL, a file: URL or a path;
// any other scheme (`s3://…`) is a usage error naming the ones read here.
// A conversion's input is a regular file (read at positions), a
// stream (standard input, a FIFO such as `<(cat a.raw)`, a device: read once,
// in order, into reused buffers) or an http(s) URL. Each is opened far
// enough to see its first bytes, which decide the direction (a VHDX signature
// or not); a stream cannot be read twice, so its first chunk is kept and
// handed on with the rest. Standard input that is a regular file (`< a.raw`)
// is read as the file it is.
import { closeSync, fstatSync, open as openCb } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { VhdxError, asVhdxError } from '../errors.js';
import { hasVhdxSignature } from '../format/identifier.js';
import { readChunks } from '../node/fd-reader.js';
import { openNodeSource } from '../node/file-source.js';
import { UsageError } from './usage-error.js';
import { s3Input } from './s3.js';
import type { S3Location } from '../sources/s3-object.js';

export type InputKind = 'path' | 'stdin' | 'url';

/** The two formats this tool reads and writes. */
export type ImageFormat = 'raw' | 'vhdx';

/** A regular file, for the routes that read at positions. */
export interface PathInput {
  path: string;
}

/** A URL input, for the routes that fetch. */
export interface UrlInput {
  url: string;
  /** How it is fetched, when not by the global fetch: an s3:// object's requests are signed. */
  fetch?: typeof fetch;
  /** The object an s3:// input names (so that a worker thread can sign its own reads). */
  s3?: S3Location;
}

/** A stream (standard input, a FIFO or a device), read into reused buffers, with its first chunk in hand. */
export interface Stdin {
  /** What the user called it (`-` for standard input). */
  name: string;
  first: Uint8Array;
  /** Every chunk, the first included; each valid until the next is asked for. */
  chunks: AsyncIterable<Uint8Array>;
}

/** What a route of each input kind receives. */
export interface InputOfKind {
  path: PathInput;
  stdin: Stdin;
  url: UrlInput;
}

/** An input argument, resolved but not opened; `name` is how the user wrote it. */
export type InputArg = { name: string } & ({ kind: 'stdin' } | ({ kind: 'url' } & UrlInput) | ({ kind: 'path' } & PathInput));

/** An opened input: its kind, what its routes receive, and its first bytes (at most 8, or a stream's first chunk). */
export type OpenedInput = { [K in InputKind]: { kind: K; input: InputOfKind[K]; head: Uint8Array } }[InputKind];

/** The URL schemes an input may have: the message for any other names them. */
export const INPUT_SCHEMES = ['http', 'https', 's3', 'file'] as const;

/** A URL's scheme (`s3` in `s3://bucket/key`), lower-cased; undefined for a path (`C:\\x`, `a:b.raw` included). */
function schemeOf(arg: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]+):(\/\/)?/i.exec(arg);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  // `name:rest` without `//` is a path unless it is one of ours (`file:/x`)
  return m[2] !== undefined || (INPUT_SCHEMES as readonly string[]).includes(scheme) ? scheme : undefined;
}

/** A file: URL as the path it names. @throws UsageError for one that names no local file */
function filePath(arg: string): string {
  try {
    return fileURLToPath(arg);
  } catch (err) {
    throw new UsageError(`${arg} is not a local file URL (${(err as Error).message})`);
  }
}

/**
 * The one reading of an input argument, for every command: `-` is standard input, an http(s) URL
 * is fetched, an s3:// URL too (signed, see s3.ts), a file: URL is the path it names, anything without a scheme is a path.
 * @throws UsageError for a URL of another scheme, a file: URL naming no local file, an s3:// URL without credentials
 */
export function resolveInput(arg: string): InputArg {
  if (arg === '-') return { kind: 'stdin', name: arg };
  const scheme = schemeOf(arg);
  if (scheme === undefined) return { kind: 'path', path: arg, name: arg };
  if (scheme === 'file') return { kind: 'path', path: filePath(arg), name: arg };
  if (scheme === 'http' || scheme === 'https') return { kind: 'url', url: arg, name: arg };
  if (scheme === 's3') return { kind: 'url', ...s3Input(arg), name: arg };
  throw new UsageError(`${arg}: ${scheme}: URLs are not read here; an input is a path, - for stdin, or an http, https, s3 or file URL`);
}

/**
 * An output argument as the path to write (`-` for standard output): a file: URL is the path it names.
 * @throws UsageError for any other URL: outputs are written to files and stdout (s3:// objects by convert, see s3.ts)
 */
export function resolveOutput(arg: string): string {
  if (arg === '-') return arg;
  const scheme = schemeOf(arg);
  if (scheme === undefined) return arg;
  if (scheme === 'file') return filePath(arg);
  throw new UsageError(
    `${arg}: ${scheme}: URLs are not written here; an output is a path, a file URL, - for stdout, or (for convert) s3://bucket/key`,
  );
}

/** The format of an input starting with `head`: `forced` (-f) when given, else VHDX when it has the signature. */
export function formatOf(head: Uint8Array, forced?: ImageFormat): ImageFormat {
  return forced ?? (hasVhdxSignature(head) ? 'vhdx' : 'raw');
}

/** Standard input as a path when it is a regular file (positional reads from its start), else undefined. */
export function stdinAsFile(): string | undefined {
  return fstatSync(0).isFile() ? '/dev/stdin' : undefined;
}

/**
 * Opens `arg` far enough to read its first bytes.
 * @throws VhdxError: 'open-failed' for a path that cannot be opened (or is a directory), 'read-failed'
 *   for a stream; 'request-failed' or 'http-status' for a URL
 */
export async function openInput(arg: InputArg): Promise<OpenedInput> {
  switch (arg.kind) {
    case 'stdin': {
      const file = stdinAsFile();
      if (file) return { kind: 'path', input: { path: file }, head: await pathHead(file) };
      const stdin = await openStream(readInput(0, 'standard input'), '-');
      return { kind: 'stdin', input: stdin, head: stdin.first };
    }
    case 'url':
      return {
        kind: 'url',
        input: { url: arg.url, ...(arg.fetch ? { fetch: arg.fetch } : {}), ...(arg.s3 ? { s3: arg.s3 } : {}) },
        head: await urlHead(arg),
      };
    case 'path': {
      if (await isRegularFile(arg.path)) return { kind: 'path', input: { path: arg.path }, head: await pathHead(arg.path) };
      const stream = await openStream(await openPathStream(arg.path), arg.path);
      return { kind: 'stdin', input: stream, head: stream.first };
    }
  }
}

/**
 * Whether `path` is a regular file (else a FIFO, device or socket).
 * @throws VhdxError 'open-failed' when it does not exist or is a directory
 */
async function isRegularFile(path: string): Promise<boolean> {
  const st = await stat(path).catch((err) => {
    throw asVhdxError(err, 'open-failed', `cannot open ${path}`);
  });
  if (st.isDirectory()) throw new VhdxError('open-failed', `cannot open ${path}: it is a directory`);
  return st.isFile();
}

/** The chunks of a FIFO or device at `path`, its descriptor closed when they end. */
async function openPathStream(path: string): Promise<AsyncGenerator<Uint8Array, void, undefined>> {
  // a bare descriptor, not a FileHandle: a net.Socket may take it over
  const fd = await promisify(openCb)(path, 'r').catch((err) => {
    throw asVhdxError(err, 'open-failed', `cannot open ${path}`);
  });
  // a pipe or socket is read through a net.Socket, which takes the descriptor over and closes it
  const socketOwnsFd = fstatSync(fd).isFIFO() || fstatSync(fd).isSocket();
  return (async function* () {
    try {
      yield* readInput(fd, path);
    } finally {
      if (!socketOwnsFd) {
        try {
          closeSync(fd);
        } catch {
          // already closed
        }
      }
    }
  })();
}

async function openStream(rest: AsyncGenerator<Uint8Array, void, undefined>, name: string): Promise<Stdin> {
  const head = await rest.next();
  const first = head.done ? new Uint8Array(0) : head.value;
  return {
    name,
    first,
    chunks: (async function* () {
      if (first.length) yield first;
      yield* rest;
    })(),
  };
}

async function* readInput(fd: number, name: string): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    yield* readChunks(fd);
  } catch (err) {
    throw asVhdxError(err, 'read-failed', `cannot read ${name === '-' ? 'standard input' : name}`);
  }
}

/**
 * GETs `input.url` (optionally a `range` of it) as a stream, with its length when the server says.
 * @throws VhdxError 'request-failed' when there is no answer, 'http-status' for a status other than 2xx
 */
export async function fetchStream(
  input: UrlInput,
  range?: string,
): Promise<{ stream: ReadableStream<Uint8Array>; size: number | undefined }> {
  const { url } = input;
  let res: Response;
  try {
    res = await (input.fetch ?? fetch)(url, range ? { headers: { Range: range } } : {});
  } catch (err) {
    throw asVhdxError(err, 'request-failed', `cannot fetch ${url}`);
  }
  if (!res.ok || !res.body) throw new VhdxError('http-status', `${url} answered ${res.status} ${res.statusText}`);
  const len = res.headers.get('content-length');
  // fetch decodes a compressed body, whose Content-Length counts the compressed bytes: its size is unknown
  const encoding = (res.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  const size = len === null || encoding !== 'identity' ? undefined : Number(len);
  return { stream: heldBody(res.body as ReadableStream<Uint8Array>, url, size), size };
}

/**
 * The body of a response, read through a reader taken now. Node's fetch cancels the body of a
 * response that is garbage collected while its body is untouched, and a cancelled body simply
 * ends: a consumer that starts late (after opening a parent, say) would read a short, silently
 * truncated input. A body that ends before its Content-Length is an error here for the same reason.
 */
function heldBody(body: ReadableStream<Uint8Array>, url: string, size: number | undefined): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let received = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await reader.read().catch((err) => {
          throw asVhdxError(err, 'read-failed', `reading ${url}`);
        });
        if (done) {
          if (size !== undefined && received !== size) {
            throw new VhdxError('input-truncated', `${url} ended after ${received} of its ${size} bytes (Content-Length)`, {
              structure: 'input',
              offset: received,
            });
          }
          controller.close();
          return;
        }
        received += value.length;
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

async function urlHead(input: UrlInput): Promise<Uint8Array> {
  // works whether or not the server honours Range
  const { stream } = await fetchStream(input, 'bytes=0-7');
  const reader = stream.getReader();
  // all 8 bytes or the end: the format is decided from them, so a reply cut short is an error, not a guess
  const head = new Uint8Array(8);
  let filled = 0;
  while (filled < head.length) {
    const { value, done } = await reader.read();
    if (done) break;
    const n = Math.min(value.length, head.length - filled);
    head.set(value.subarray(0, n), filled);
    filled += n;
  }
  await reader.cancel();
  return head.subarray(0, filled);
}

async function pathHead(path: string): Promise<Uint8Array> {
  const src = await openNodeSource(path);
  try {
    return await src.read(0, Math.min(8, src.size));
  } finally {
    await src.close?.();
  }
}
