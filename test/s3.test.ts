// The S3 multipart sink against a small S3-like server on 127.0.0.1 that
// records every request, checks every signature, and keeps parts, uploads
// and objects the way a store does; SigV4 itself against AWS's documented
// example. Fault cases: a part failing once, one failing always, a cancel,
// a store refusing the checksum headers. Memory: no chunk of the input is
// kept once it is copied into a part (a full collection finds them gone).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VhdxEncoderStream, VhdxError, crc32c, crc32cBase64 } from '../src/index.js';
import { uploadToS3, type S3UploadOptions } from '../src/sources/s3.js';
import { describeError } from '../src/cli/messages.js';
import { signRequest } from '../src/sources/sigv4.js';
import { ready } from '../src/wasm/instance.js';
import { chunkedStream, collect, makeRaw } from './helpers/images.js';

const MiB = 1024 * 1024;
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' };

describe('SigV4', () => {
  it("signs AWS's documented GET Object example (Range bytes=0-9 of examplebucket/test.txt) to its published signature", async () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "Example: GET Object"
    const headers = await signRequest({
      method: 'GET',
      url: new URL('https://examplebucket.s3.amazonaws.com/test.txt'),
      headers: { Range: 'bytes=0-9' },
      payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      date: new Date('2013-05-24T00:00:00Z'),
    });
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
    expect(headers['x-amz-date']).toBe('20130524T000000Z');
  });
});

interface Recorded {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: Buffer;
  signatureOk: boolean;
}

/** What the server does wrong on purpose. */
interface Faults {
  /** Part numbers that answer 500 the first time. */
  failOnce?: Set<number>;
  /** Part numbers that always answer 500. */
  failAlways?: Set<number>;
  /** Refuse requests that carry x-amz-checksum-type (as a store without full-object checksums). */
  refuseChecksumType?: boolean;
  /** Hold part uploads until released. */
  hold?: Promise<void>;
}

class FakeStore {
  server!: Server;
  endpoint = '';
  requests: Recorded[] = [];
  uploads = new Map<string, Map<number, Buffer>>();
  objects = new Map<string, Buffer>();
  faults: Faults = {};
  /** Part uploads the server holds at once, and the most it held. */
  active = 0;
  maxActive = 0;
  private failedOnce = new Set<number>();
  private nextId = 1;

  async start() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.handle(req, Buffer.concat(chunks)).then(
          ([status, body, headers]) => {
            res.writeHead(status, headers);
            res.end(body);
          },
          (err) => {
            res.writeHead(500);
            res.end(String(err));
          },
        );
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    this.endpoint = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  reset() {
    this.requests = [];
    this.uploads.clear();
    this.objects.clear();
    this.faults = {};
    this.failedOnce.clear();
    this.active = 0;
    this.maxActive = 0;
  }

  /** Recomputes the signature from what arrived: a header changed on the way, or signed but not sent, fails it. */
  private async verify(req: IncomingMessage, url: URL): Promise<boolean> {
    const auth = String(req.headers.authorization ?? '');
    const m = /SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return false;
    const names = m[1]!.split(';').filter((n) => !['host', 'x-amz-date', 'x-amz-content-sha256'].includes(n));
    const headers: Record<string, string> = {};
    for (const n of names) headers[n] = String(req.headers[n]);
    const date = String(req.headers['x-amz-date']);
    const again = await signRequest({
      method: req.method!,
      url,
      headers,
      payloadHash: String(req.headers['x-amz-content-sha256']),
      region: 'us-east-1',
      credentials,
      date: new Date(
        `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
      ),
    });
    return again.authorization === auth;
  }

  private async handle(req: IncomingMessage, body: Buffer): Promise<[number, string, Record<string, string>?]> {
    const url = new URL(req.url!, this.endpoint);
    const signatureOk = await this.verify(req, url);
    this.requests.push({ method: req.method!, url, headers: req.headers, body, signatureOk });
    if (!signatureOk) return [403, '<Error><Code>SignatureDoesNotMatch</Code><Message>bad signature</Message></Error>'];
    const q = url.searchParams;
    const key = url.pathname;
    if (req.method === 'POST' && q.has('uploads')) {
      if (this.faults.refuseChecksumType && req.headers['x-amz-checksum-type']) {
        return [400, '<Error><Code>InvalidRequest</Code><Message>x-amz-checksum-type is not supported</Message></Error>'];
      }
      const id = `upload-${this.nextId++}`;
      this.uploads.set(id, new Map());
      return [200, `<InitiateMultipartUploadResult><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`];
    }
    const parts = this.uploads.get(q.get('uploadId') ?? '');
    if (req.method === 'PUT' && parts) {
      const n = Number(q.get('partNumber'));
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      await this.faults.hold;
      this.active--;
      if (this.faults.failAlways?.has(n)) return [500, '<Error><Code>InternalError</Code><Message>always</Message></Error>'];
      if (this.faults.failOnce?.has(n) && !this.failedOnce.has(n)) {
        this.failedOnce.add(n);
        return [503, '<Error><Code>SlowDown</Code><Message>once</Message></Error>'];
      }
      if (req.headers['x-amz-checksum-crc32c'] !== crc32cBase64(crc32c(body)))
        return [400, '<Error><Code>BadDigest</Code><Message>crc</Message></Error>'];
      parts.set(n, body);
      return [200, '', { etag: `"etag-${n}"` }];
    }
    if (req.method === 'POST' && parts) {
      const numbers = [...body.toString().matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
      const object = Buffer.concat(numbers.map((n) => parts.get(n)!));
      const wanted = req.headers['x-amz-checksum-crc32c'];
      if (wanted !== undefined && wanted !== crc32cBase64(crc32c(object)))
        return [400, '<Error><Code>BadDigest</Code><Message>object crc</Message></Error>'];
      this.uploads.delete(q.get('uploadId')!);
      this.objects.set(key, object);
      return [200, '<CompleteMultipartUploadResult><ETag>"whole-etag"</ETag></CompleteMultipartUploadResult>'];
    }
    if (req.method === 'DELETE' && parts) {
      this.uploads.delete(q.get('uploadId')!);
      return [204, ''];
    }
    return [404, '<Error><Code>NoSuchUpload</Code><Message>no such upload</Message></Error>'];
  }
}

describe('uploadToS3', () => {
  const store = new FakeStore();
  beforeAll(() => store.start());
  afterAll(() => new Promise<void>((resolve) => store.server.close(() => resolve())));
  beforeEach(() => store.reset());

  const options = (outputSize: number, extra: Partial<S3UploadOptions> = {}): S3UploadOptions => ({
    endpoint: store.endpoint,
    bucket: 'disks',
    key: 'dir/a disk.vhdx',
    region: 'us-east-1',
    credentials,
    outputSize,
    partSize: 5 * MiB,
    concurrency: 2,
    retryDelayMs: 1,
    ...extra,
  });

  async function encoded() {
    await ready();
    const raw = makeRaw(20 * MiB, 'mixed');
    const encoder = new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB });
    const bytes = await collect(chunkedStream(raw, [MiB + 3]).pipeThrough(encoder));
    return { bytes, size: encoder.outputSize };
  }

  it('uploads the encoder output as parts with CRC-32C headers and completes with the full-object CRC-32C', async () => {
    const { bytes, size } = await encoded();
    const progress: number[] = [];
    const result = await uploadToS3(chunkedStream(bytes, [777_777]), options(size, { onProgress: (n) => progress.push(n) }));
    const object = store.objects.get('/disks/dir/a%20disk.vhdx');
    expect(object && Buffer.from(bytes).equals(object)).toBe(true);
    expect(result.crc32c).toBe(crc32c(bytes));
    expect(result.checksum).toBe(crc32cBase64(crc32c(bytes)));
    expect(result.parts).toBe(Math.ceil(size / (5 * MiB)));
    expect(progress.at(-1)).toBe(size);
    expect(store.requests.every((r) => r.signatureOk)).toBe(true);
    const [create, ...rest] = store.requests;
    expect(create!.method).toBe('POST');
    expect(create!.headers['x-amz-checksum-algorithm']).toBe('CRC32C');
    expect(create!.headers['x-amz-checksum-type']).toBe('FULL_OBJECT');
    const puts = rest.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => Number(r.url.searchParams.get('partNumber'))).sort((a, b) => a - b)).toEqual(
      Array.from({ length: result.parts }, (_, i) => i + 1),
    );
    for (const p of puts) {
      expect(p.headers['x-amz-checksum-crc32c']).toBe(crc32cBase64(crc32c(p.body)));
      expect(p.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    }
    const complete = rest.at(-1)!;
    expect(complete.method).toBe('POST');
    expect(complete.headers['x-amz-checksum-crc32c']).toBe(crc32cBase64(crc32c(bytes)));
    expect(complete.headers['x-amz-checksum-type']).toBe('FULL_OBJECT');
    expect(complete.body.toString()).toContain('<ChecksumCRC32C>');
    expect(store.uploads.size).toBe(0); // no open upload
    expect(store.maxActive).toBeLessThanOrEqual(2); // concurrency 2: memory is a bounded number of parts
  });

  it('composite: no checksum type asked, the result is the CRC of the parts CRCs with -N', async () => {
    const { bytes, size } = await encoded();
    const result = await uploadToS3(chunkedStream(bytes), options(size, { checksum: 'composite' }));
    expect(store.requests[0]!.headers['x-amz-checksum-type']).toBeUndefined();
    expect(store.requests[0]!.headers['x-amz-checksum-algorithm']).toBe('CRC32C');
    const parts = store.requests
      .filter((r) => r.method === 'PUT')
      .sort((a, b) => Number(a.url.searchParams.get('partNumber')) - Number(b.url.searchParams.get('partNumber')));
    const joined = Buffer.concat(parts.map((p) => Buffer.from(p.headers['x-amz-checksum-crc32c'] as string, 'base64')));
    expect(result.checksum).toBe(`${crc32cBase64(crc32c(joined))}-${parts.length}`);
  });

  it('a part that fails once is retried and the object is whole', async () => {
    const { bytes, size } = await encoded();
    store.faults.failOnce = new Set([2]);
    await uploadToS3(chunkedStream(bytes), options(size));
    expect(store.requests.filter((r) => r.method === 'PUT' && r.url.searchParams.get('partNumber') === '2')).toHaveLength(2);
    expect(Buffer.from(bytes).equals(store.objects.get('/disks/dir/a%20disk.vhdx')!)).toBe(true);
  });

  it('a part that always fails aborts the upload after the retries: no object, no open upload', async () => {
    const { bytes, size } = await encoded();
    store.faults.failAlways = new Set([1]);
    const err = await uploadToS3(chunkedStream(bytes), options(size, { retries: 2 })).catch((e) => e);
    expect(err).toBeInstanceOf(VhdxError);
    expect((err as VhdxError).reason).toBe('http-status');
    expect(store.requests.filter((r) => r.method === 'PUT' && r.url.searchParams.get('partNumber') === '1')).toHaveLength(3);
    expect(store.requests.at(-1)!.method).toBe('DELETE');
    expect(store.uploads.size).toBe(0);
    expect(store.objects.size).toBe(0);
  });

  it('cancelling through the signal aborts the upload', async () => {
    const { bytes, size } = await encoded();
    let release!: () => void;
    store.faults.hold = new Promise((resolve) => {
      release = resolve;
    });
    const controller = new AbortController();
    const running = uploadToS3(chunkedStream(bytes), options(size, { signal: controller.signal })).catch((e) => e);
    while (!store.requests.some((r) => r.method === 'PUT')) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const err = await running;
    release();
    expect((err as VhdxError).reason).toBe('cancelled');
    expect(store.requests.some((r) => r.method === 'DELETE')).toBe(true);
    expect(store.uploads.size).toBe(0);
    expect(store.objects.size).toBe(0);
  });

  it('a signal aborted before the call: cancelled, and nothing is sent to the store', async () => {
    const { bytes, size } = await encoded();
    const controller = new AbortController();
    controller.abort();
    const err = await uploadToS3(chunkedStream(bytes), options(size, { signal: controller.signal })).catch((e) => e);
    expect((err as VhdxError).reason).toBe('cancelled');
    expect(store.requests).toEqual([]);
    expect(store.objects.size).toBe(0);
  });

  it('a store refusing the checksum headers gets an error naming the checksum option', async () => {
    const { bytes, size } = await encoded();
    store.faults.refuseChecksumType = true;
    const err = await uploadToS3(chunkedStream(bytes), options(size)).catch((e) => e);
    expect(err).toMatchObject({ reason: 'checksum-refused', code: 'UNSUPPORTED', field: 'checksum' });
    expect((err as VhdxError).message).toContain("checksum: 'composite'");
    // the option it names works against the same store
    await uploadToS3(chunkedStream(bytes), options(size, { checksum: 'composite' }));
    expect(store.objects.size).toBe(1);
  });

  it('the command line words a refused checksum with --s3-checksum, the flag that sets the option', async () => {
    const { bytes, size } = await encoded();
    store.faults.refuseChecksumType = true;
    const err = (await uploadToS3(chunkedStream(bytes), options(size)).catch((e) => e)) as VhdxError;
    expect(err.reason).toBe('checksum-refused');
    const said = describeError(err, new Map());
    expect(said).toMatch(/^the store refused the CRC-32C checksum headers of CreateMultipartUpload \(/);
    expect(said).toMatch(/it may not support --s3-checksum full-object: give --s3-checksum composite \(or none\)$/);
    expect(said).not.toContain("checksum: '");
    // as typed, when given
    const typed = new Map([['s3-checksum', { value: 'full-object', typed: '--s3-checksum' }]]);
    expect(describeError(err, typed)).toContain('give --s3-checksum composite (or none)');
  });

  it('keeps no chunk of the input once copied into a part: memory is bounded by the parts, not the stream', async () => {
    // a full, synchronous collection (the flag turned on here, as --expose-gc would)
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const chunks = 40;
    const seen: WeakRef<Uint8Array>[] = [];
    let alive = -1;
    const stream = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (seen.length === chunks) {
            // every earlier chunk has been copied into a part (5 per part) and the reads that gave them
            // have settled; let this turn end (WeakRef targets live to the end of the job that made them)
            await new Promise((resolve) => setTimeout(resolve, 0));
            gc();
            alive = seen.filter((ref) => ref.deref() !== undefined).length;
            controller.close();
            return;
          }
          const chunk = new Uint8Array(MiB).fill(seen.length + 1);
          seen.push(new WeakRef(chunk));
          controller.enqueue(chunk);
        },
      },
      { highWaterMark: 0 },
    );
    await uploadToS3(stream, options(chunks * MiB, { concurrency: 1 }));
    expect(store.objects.get('/disks/dir/a%20disk.vhdx')?.length).toBe(chunks * MiB);
    // before: every chunk read stayed reachable until the upload ended (the input's size in memory)
    expect(alive).toBeGreaterThanOrEqual(0);
    expect(alive).toBeLessThanOrEqual(1);
  });

  it('a stream shorter than outputSize aborts the upload', async () => {
    const { bytes, size } = await encoded();
    const err = await uploadToS3(chunkedStream(bytes.subarray(0, 7 * MiB)), options(size)).catch((e) => e);
    expect((err as VhdxError).reason).toBe('input-truncated');
    expect(store.uploads.size).toBe(0);
    expect(store.objects.size).toBe(0);
  });
});
