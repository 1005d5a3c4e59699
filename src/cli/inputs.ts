// Where a conversion reads from: a file path, standard input or an http(s)
// URL. Each is opened far enough to see its first bytes, which decide the
// direction (a VHDX signature or not); stdin cannot be read twice, so its
// first chunk is kept and handed on with the rest.
import { VhdxError, asVhdxError } from '../errors.js';
import { readChunks } from '../node/fd-reader.js';
import { openNodeSource } from '../node/file-source.js';

export type InputKind = 'path' | 'stdin' | 'url';

/** A path input, for the routes that read a file. */
export interface PathInput {
  path: string;
}

/** A URL input, for the routes that fetch. */
export interface UrlInput {
  url: string;
}

/** Standard input, read into reused buffers, with its first chunk in hand. */
export interface Stdin {
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

/** An input argument, classified but not opened. */
export type InputArg = { kind: 'stdin' } | ({ kind: 'url' } & UrlInput) | ({ kind: 'path' } & PathInput);

/** An opened input: its kind, what its routes receive, and its first bytes (at most 8, or stdin's first chunk). */
export type OpenedInput = { [K in InputKind]: { kind: K; input: InputOfKind[K]; head: Uint8Array } }[InputKind];

/** `-` is stdin, http(s):// a URL, anything else a path. */
export function classifyInput(arg: string): InputArg {
  if (arg === '-') return { kind: 'stdin' };
  if (/^https?:\/\//i.test(arg)) return { kind: 'url', url: arg };
  return { kind: 'path', path: arg };
}

/**
 * Opens `arg` far enough to read its first bytes.
 * @throws VhdxError: the path's source errors; 'request-failed' or 'http-status' for a URL;
 *   'read-failed' for stdin
 */
export async function openInput(arg: InputArg): Promise<OpenedInput> {
  switch (arg.kind) {
    case 'stdin': {
      const stdin = await openStdin();
      return { kind: 'stdin', input: stdin, head: stdin.first };
    }
    case 'url':
      return { kind: 'url', input: { url: arg.url }, head: await urlHead(arg.url) };
    case 'path':
      return { kind: 'path', input: { path: arg.path }, head: await pathHead(arg.path) };
  }
}

async function openStdin(): Promise<Stdin> {
  const rest = readStdin();
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

async function* readStdin(): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    yield* readChunks(0);
  } catch (err) {
    throw asVhdxError(err, 'read-failed', 'cannot read standard input');
  }
}

/**
 * GETs `url` (optionally a `range` of it) as a stream, with its length when the server says.
 * @throws VhdxError 'request-failed' when there is no answer, 'http-status' for a status other than 2xx
 */
export async function fetchStream(url: string, range?: string): Promise<{ stream: ReadableStream<Uint8Array>; size: number | undefined }> {
  let res: Response;
  try {
    res = await fetch(url, range ? { headers: { Range: range } } : {});
  } catch (err) {
    throw asVhdxError(err, 'request-failed', `cannot fetch ${url}`);
  }
  if (!res.ok || !res.body) throw new VhdxError('http-status', `${url} answered ${res.status} ${res.statusText}`);
  const len = res.headers.get('content-length');
  return { stream: res.body as ReadableStream<Uint8Array>, size: len === null ? undefined : Number(len) };
}

async function urlHead(url: string): Promise<Uint8Array> {
  // works whether or not the server honours Range
  const { stream } = await fetchStream(url, 'bytes=0-7');
  const reader = stream.getReader();
  const { value } = await reader.read();
  await reader.cancel();
  return value ?? new Uint8Array(0);
}

async function pathHead(path: string): Promise<Uint8Array> {
  const src = await openNodeSource(path);
  try {
    return await src.read(0, Math.min(8, src.size));
  } finally {
    await src.close?.();
  }
}
