// A stream of known length uploaded to an S3-compatible store as one
// multipart upload: parts cut as the bytes pass, each with its CRC-32C
// (computed while copying, never re-read), a bounded number in flight,
// failed parts retried, the whole object's CRC-32C combined from the parts'
// at completion, and the upload aborted on any failure or cancel so that no
// half object and no open upload is left behind.
import { VhdxError, inputTooLong } from '../errors.js';
import { choosePartSize } from '../layout/multipart.js';
import { combineCrc32c, crc32cBase64 } from '../wasm/crc-combine.js';
import { crc32c } from '../wasm/kernels.js';
import { ready } from '../wasm/instance.js';
import { eachLimited } from '../runtime/each-limited.js';
import { s3ObjectUrl, type S3Location } from './s3-object.js';
import { EMPTY_SHA256, sha256Hex, signRequest } from './sigv4.js';

export type { S3Location } from './s3-object.js';

/** Options of {@link uploadToS3}. */
export interface S3UploadOptions extends S3PartsOptions {
  /** Exact bytes the stream will give (the encoder's `outputSize`): known before the first byte, checked at the end. */
  outputSize: number;
  /** Bytes per part, 5 MiB..5 GiB (default: 16 MiB, or larger to stay within 10,000 parts). Memory is about `partSize × (concurrency + 1)`. */
  partSize?: number;
}

/** What {@link uploadToS3} stored. */
export interface S3UploadResult {
  /** The object's ETag, as the store gave it. */
  etag: string;
  /** Parts uploaded. */
  parts: number;
  /** CRC-32C of the whole object. */
  crc32c: number;
  /**
   * The object checksum as the store reports it (`x-amz-checksum-crc32c` of HeadObject):
   * base64 of {@link crc32c} for `full-object`, `<base64>-N` for `composite`; absent for `none`.
   */
  checksum?: string;
}

interface StoreError {
  status: number;
  code: string;
  message: string;
}

function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m?.[1]
    ?.replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const retryable = (status: number) => status >= 500 || status === 429;

/** The part of an upload the store's answers are about, for messages. */
type Step = 'CreateMultipartUpload' | `UploadPart ${number}` | 'CompleteMultipartUpload' | 'AbortMultipartUpload';

class S3Client {
  private readonly doFetch: typeof fetch;
  private readonly base: URL;

  constructor(private readonly o: S3PartOptions) {
    this.doFetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.base = s3ObjectUrl(o);
  }

  /** One signed request; the response of a 2xx, else the store's error. */
  async send(
    method: string,
    query: Record<string, string>,
    headers: Record<string, string>,
    body: Uint8Array | string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ response: Response; text: string } | { error: StoreError }> {
    const url = new URL(this.base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const payload = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    // parts go unsigned (their CRC-32C header guards them); small XML bodies are hashed
    const payloadHash = payload === undefined ? EMPTY_SHA256 : typeof body === 'string' ? await sha256Hex(payload) : 'UNSIGNED-PAYLOAD';
    const signed = await signRequest({ method, url, headers, payloadHash, region: this.o.region, credentials: this.o.credentials });
    const response = await this.doFetch(url, {
      method,
      headers: signed,
      ...(payload ? { body: payload as Uint8Array<ArrayBuffer> } : {}),
      ...(signal ? { signal } : {}),
    });
    const text = await response.text();
    // CompleteMultipartUpload may answer 200 with an <Error> body
    if (response.ok && !/<Error>/.test(text)) return { response, text };
    return {
      error: { status: response.status, code: xmlText(text, 'Code') ?? '', message: xmlText(text, 'Message') ?? response.statusText },
    };
  }
}

function storeFailure(step: Step, e: StoreError, checksum: S3PartOptions['checksum'], sentChecksum: boolean): VhdxError {
  const said = `${e.status}${e.code ? ` ${e.code}` : ''}: ${e.message}`;
  if (sentChecksum && !retryable(e.status) && (e.code === 'NotImplemented' || /checksum/i.test(`${e.code} ${e.message}`))) {
    const next = checksum === 'full-object' ? "checksum: 'composite' (or 'none')" : "checksum: 'none'";
    return new VhdxError(
      'checksum-refused',
      `the store refused the CRC-32C checksum headers of ${step} (${said}); it may not support checksum '${checksum ?? 'full-object'}': set the option ${next}`,
      { structure: 'target', field: 'checksum' },
    );
  }
  return new VhdxError('http-status', `${step} failed with ${said}`, { structure: 'target' });
}

/** How the requests of one multipart upload are made: where, with which checksums, how often retried. */
export interface S3PartOptions extends S3Location {
  /**
   * The object checksum asked of the store:
   * - `'full-object'` (default): CRC-32C of the whole object (`x-amz-checksum-type: FULL_OBJECT`),
   *   as AWS S3 supports; the store checks it at completion.
   * - `'composite'`: CRC-32C of the parts' CRC-32Cs, `-N` appended (R2, and stores without full-object checksums).
   * - `'none'`: no checksum headers at all (stores that refuse them).
   * Every part carries its own `x-amz-checksum-crc32c` except with `'none'`.
   */
  checksum?: 'full-object' | 'composite' | 'none';
  /** Further attempts of a request after a network error, 5xx or 429 (default 3). */
  retries?: number;
  /** Wait before the first retry, doubled on each further one (default 250 ms). */
  retryDelayMs?: number;
  /** fetch implementation (defaults to globalThis.fetch). */
  fetch?: typeof fetch;
}

/** A part the store holds: what {@link completeS3Upload} needs of it. */
export interface S3UploadedPart {
  etag: string;
  /** CRC-32C of the part's bytes. */
  crc: number;
  length: number;
}

function checkCount(field: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new VhdxError('invalid-option', `must be a whole number from ${min}, got ${String(value)}`, { structure: 'options', field });
  }
}

function cancelledBy(signal: AbortSignal | undefined): VhdxError {
  return new VhdxError('cancelled', 'the upload was cancelled', { structure: 'target', cause: signal?.reason });
}

/** One request of an upload, retried on network errors, 5xx and 429; `cancelled` once `signal` aborts. */
async function attempt(
  options: S3PartOptions,
  step: Step,
  request: { method: string; query: Record<string, string>; headers: Record<string, string>; body?: Uint8Array | string },
  signal: AbortSignal | undefined,
): Promise<{ response: Response; text: string }> {
  const retries = options.retries ?? 3;
  checkCount('retries', retries, 0);
  const checksum = options.checksum ?? 'full-object';
  const sentChecksum = checksum !== 'none' && step !== 'AbortMultipartUpload';
  const client = new S3Client(options);
  for (let tries = 0; ; tries++) {
    if (signal?.aborted) throw cancelledBy(signal);
    let outcome: Awaited<ReturnType<S3Client['send']>> | undefined;
    let networkError: unknown;
    try {
      outcome = await client.send(request.method, request.query, request.headers, request.body, signal);
    } catch (err) {
      if (signal?.aborted) throw cancelledBy(signal);
      networkError = err;
    }
    if (outcome && 'response' in outcome) return outcome;
    const again = tries < retries && (networkError !== undefined || retryable(outcome!.error!.status));
    if (!again) {
      if (outcome) throw storeFailure(step, outcome.error, checksum, sentChecksum);
      const text = networkError instanceof Error ? networkError.message : String(networkError);
      throw new VhdxError('request-failed', `${step} failed: ${text}`, { structure: 'target', cause: networkError });
    }
    await new Promise((resolve) => setTimeout(resolve, (options.retryDelayMs ?? 250) * 2 ** tries));
  }
}

/**
 * Starts a multipart upload (CreateMultipartUpload) asking for CRC-32C checksums as `options.checksum` says.
 * @returns the upload's id, for {@link uploadS3Part}, {@link completeS3Upload} and {@link abortS3Upload}
 * @throws VhdxError as {@link uploadToS3}
 */
export async function createS3Upload(options: S3PartOptions, signal?: AbortSignal): Promise<string> {
  const checksum = options.checksum ?? 'full-object';
  const headers: Record<string, string> = {};
  if (checksum !== 'none') headers['x-amz-checksum-algorithm'] = 'CRC32C';
  if (checksum === 'full-object') headers['x-amz-checksum-type'] = 'FULL_OBJECT';
  const created = await attempt(options, 'CreateMultipartUpload', { method: 'POST', query: { uploads: '' }, headers }, signal);
  const uploadId = xmlText(created.text, 'UploadId');
  if (!uploadId) throw new VhdxError('http-status', 'CreateMultipartUpload answered without an UploadId', { structure: 'target' });
  return uploadId;
}

/**
 * Uploads part `number` (1-based) of an upload, with `x-amz-checksum-crc32c` from `crc` (unless checksum
 * `'none'`), retried as `options.retries` says. Any worker may call it: a part depends only on its bytes.
 * @throws VhdxError as {@link uploadToS3}
 */
export async function uploadS3Part(
  options: S3PartOptions,
  uploadId: string,
  number: number,
  bytes: Uint8Array,
  crc: number,
  signal?: AbortSignal,
): Promise<S3UploadedPart> {
  const headers: Record<string, string> = { 'content-length': String(bytes.length) };
  if ((options.checksum ?? 'full-object') !== 'none') headers['x-amz-checksum-crc32c'] = crc32cBase64(crc);
  const query = { partNumber: String(number), uploadId };
  const { response } = await attempt(options, `UploadPart ${number}`, { method: 'PUT', query, headers, body: bytes }, signal);
  return { etag: response.headers.get('etag') ?? '', crc, length: bytes.length };
}

/**
 * Completes an upload from its parts in order (part `i` is number `i + 1`), with the whole object's
 * CRC-32C combined from the parts' ({@link combineCrc32c}) for `'full-object'`.
 * @throws VhdxError as {@link uploadToS3}
 */
export async function completeS3Upload(
  options: S3PartOptions,
  uploadId: string,
  parts: readonly S3UploadedPart[],
  signal?: AbortSignal,
): Promise<S3UploadResult> {
  await ready();
  const checksum = options.checksum ?? 'full-object';
  const withChecksums = checksum !== 'none';
  const object = combineCrc32c(parts);
  const partsXml = parts
    .map(
      (p, i) =>
        `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(p.etag)}</ETag>` +
        `${withChecksums ? `<ChecksumCRC32C>${crc32cBase64(p.crc)}</ChecksumCRC32C>` : ''}</Part>`,
    )
    .join('');
  const headers: Record<string, string> = { 'content-type': 'application/xml' };
  if (checksum === 'full-object') {
    headers['x-amz-checksum-crc32c'] = crc32cBase64(object);
    headers['x-amz-checksum-type'] = 'FULL_OBJECT';
  }
  const body = `<CompleteMultipartUpload>${partsXml}</CompleteMultipartUpload>`;
  const completed = await attempt(options, 'CompleteMultipartUpload', { method: 'POST', query: { uploadId }, headers, body }, signal);
  const result: S3UploadResult = { etag: xmlText(completed.text, 'ETag') ?? '', parts: parts.length, crc32c: object };
  if (checksum === 'full-object') result.checksum = crc32cBase64(object);
  if (checksum === 'composite') {
    const all = new Uint8Array(parts.length * 4);
    const view = new DataView(all.buffer);
    parts.forEach((p, i) => {
      view.setUint32(i * 4, p.crc);
    });
    result.checksum = `${crc32cBase64(crc32c(all))}-${parts.length}`;
  }
  return result;
}

/**
 * Aborts an upload (AbortMultipartUpload): the store drops its parts. Not cancellable.
 * @throws nothing: a failed abort is ignored (the store's lifecycle rules remove what is left)
 */
export async function abortS3Upload(options: S3PartOptions, uploadId: string): Promise<void> {
  await new S3Client(options).send('DELETE', { uploadId }, {}, undefined, undefined).catch(() => {});
}

/** Options of {@link uploadS3Parts}. */
export interface S3PartsOptions extends S3PartOptions {
  /** Parts uploading at once (default 4). */
  concurrency?: number;
  /** Aborts the upload (the multipart upload is aborted on the store too). */
  signal?: AbortSignal;
  /** Called after each part is stored, with the bytes stored so far. */
  onProgress?: (uploadedBytes: number) => void;
}

/**
 * One multipart upload of `partCount` parts that `putPart` makes and uploads (with {@link uploadS3Part},
 * in this thread or any other): at most `concurrency` at once, lowest index first; then completed. The
 * first failure (or `signal`) stops the others (their signal aborts) and aborts the upload on the store,
 * so no object and no open upload is left.
 * @throws VhdxError as {@link uploadToS3}; `cancelled` when `signal` aborts; the first error `putPart` throws
 */
export async function uploadS3Parts(
  partCount: number,
  options: S3PartsOptions,
  putPart: (index: number, uploadId: string, signal: AbortSignal) => Promise<S3UploadedPart>,
): Promise<S3UploadResult> {
  checkCount('concurrency', options.concurrency ?? 4, 1);
  checkCount('retries', options.retries ?? 3, 0);
  const { signal } = options;
  const uploadId = await createS3Upload(options, signal);
  let uploaded = 0;
  try {
    const parts = await eachLimited(partCount, options.concurrency ?? 4, signal, async (index, stop) => {
      const part = await putPart(index, uploadId, stop);
      uploaded += part.length;
      options.onProgress?.(uploaded);
      return part;
    });
    return await completeS3Upload(options, uploadId, parts, signal);
  } catch (err) {
    await abortS3Upload(options, uploadId);
    throw signal?.aborted && !(err instanceof VhdxError && err.reason === 'cancelled') ? cancelledBy(signal) : err;
  }
}

/**
 * `read`, or a rejection with `signal`'s reason as soon as it aborts, so that a slow input does not hold a
 * cancel up. One listener per read, removed when the read settles: a race against one long-lived promise
 * instead (`Promise.race([read, stopped])`) adds a reaction to it per read, and each keeps its read's
 * chunk reachable until the upload ends, which held the whole stream in memory.
 */
function unlessStopped<T>(read: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    read.catch(() => {});
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    read.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Uploads `stream` (exactly `outputSize` bytes, e.g. a {@link VhdxEncoderStream}'s
 * readable side) to an S3-compatible store as a multipart upload with a
 * CRC-32C per part and, by default, the whole object's CRC-32C checked by the
 * store at completion. Failed parts are retried (`retries`); on any other
 * failure, or when `signal` aborts, the input is cancelled and the upload is
 * aborted on the store (AbortMultipartUpload), so nothing is left behind.
 *
 * Signing is AWS Signature Version 4 on WebCrypto: the same code runs in
 * Node, Workers, Deno, Bun and browsers.
 * @throws VhdxError `invalid-option` (bad `partSize`, `concurrency`, `retries`, `outputSize`);
 *   `checksum-refused` (UNSUPPORTED) when the store refuses the checksum headers, naming the `checksum` option;
 *   `http-status` / `request-failed` (IO) when the store answers an error or cannot be reached (after retries);
 *   `input-truncated` / `input-too-long` when the stream is shorter or longer than `outputSize`;
 *   `cancelled` when `signal` aborts; whatever the stream errors with.
 */
export async function uploadToS3(stream: ReadableStream<Uint8Array>, options: S3UploadOptions): Promise<S3UploadResult> {
  const { outputSize, signal } = options;
  if (!Number.isSafeInteger(outputSize) || outputSize <= 0) {
    throw new VhdxError('invalid-option', `must be a positive whole number of bytes, got ${String(outputSize)}`, {
      structure: 'options',
      field: 'outputSize',
    });
  }
  const { partSize } = choosePartSize(outputSize, options.partSize);
  const concurrency = options.concurrency ?? 4;
  checkCount('concurrency', concurrency, 1);
  checkCount('retries', options.retries ?? 3, 0);
  await ready();
  // one controller for every request: the caller's signal or our own failure stops them all
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  // a signal aborted before the call fires no event: nothing is sent at all
  if (signal?.aborted) onAbort();
  const cancelled = () => cancelledBy(stop.signal);
  let uploadId: string;
  try {
    uploadId = await createS3Upload(options, stop.signal);
  } catch (err) {
    signal?.removeEventListener('abort', onAbort);
    throw err;
  }

  const done: S3UploadedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let uploaded = 0;
  const reader = stream.getReader();
  try {
    const uploadPart = (number: number, bytes: Uint8Array, crc: number) => {
      const task = uploadS3Part(options, uploadId, number, bytes, crc, stop.signal).then(
        (part) => {
          done[number - 1] = part;
          uploaded += bytes.length;
          options.onProgress?.(uploaded);
        },
        (err) => {
          failure ??= err;
          stop.abort(err);
        },
      );
      const tracked = task.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };

    let received = 0;
    let part = new Uint8Array(Math.min(partSize, outputSize));
    let fill = 0;
    let crc = 0;
    let number = 0;
    const flush = async () => {
      uploadPart(++number, part.subarray(0, fill), crc);
      part = new Uint8Array(Math.min(partSize, Math.max(1, outputSize - received)));
      fill = 0;
      crc = 0;
      // memory bound: a new part is filled only while fewer than `concurrency` are in flight
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      if (failure) throw failure;
    };
    for (;;) {
      if (stop.signal.aborted) throw failure ?? cancelled();
      const { done: ended, value } = await unlessStopped(reader.read(), stop.signal);
      if (ended) break;
      if (received + value.length > outputSize) {
        throw inputTooLong('the stream', 'outputSize', outputSize);
      }
      for (let at = 0; at < value.length; ) {
        const n = Math.min(value.length - at, part.length - fill);
        const piece = value.subarray(at, at + n);
        part.set(piece, fill);
        crc = crc32c(piece, crc);
        fill += n;
        at += n;
        received += n;
        if (fill === part.length) await flush();
      }
    }
    if (received < outputSize) {
      throw new VhdxError('input-truncated', `the stream ended after ${received} of ${outputSize} bytes`, {
        structure: 'input',
        offset: received,
      });
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
    return await completeS3Upload(options, uploadId, done, stop.signal);
  } catch (err) {
    const reason = failure ?? (signal?.aborted ? cancelled() : err);
    stop.abort(reason);
    await reader.cancel(reason).catch(() => {});
    await Promise.allSettled(inFlight);
    // the abort itself must not be cancelled by our own signal
    await abortS3Upload(options, uploadId);
    throw reason;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    try {
      reader.releaseLock();
    } catch {
      // a read still pending after cancel: the lock goes with the stream
    }
  }
}
