// `vhdx convert … --parallel N` (worker threads rendering parts of one plan)
// into a file and into an object of a real Ceph RADOS Gateway (scripts/rgw.sh
// start; AWS_ENDPOINT_URL and the keys it prints in the environment). Every
// output is compared with the single-stream conversion by qemu-img. Faults are
// real ones on the way to the gateway: a small proxy in this process passes
// every request on unchanged (the Host header too, so signatures hold) except
// the part uploads it is told to fail or hold. Skipped when no endpoint is
// given, except under CI=true, where .ci/run starts the gateway and a missing
// one is a failure. The usage errors need no gateway.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRaw } from './helpers/images.js';
import { endpoint, openUploads as uploadsIn, removeBucket, signed } from './helpers/rgw.js';
import { IN_CI, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const bucket = `vhdx-par-${Date.now()}`;
const openUploads = () => uploadsIn(bucket);

interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** The command run without blocking this process (the proxy below answers from its event loop). */
function vhdx(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env, onStart?: (kill: () => void) => void): Promise<Ran> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += String(d);
  });
  onStart?.(() => child.kill('SIGINT'));
  return new Promise((resolve) => child.on('close', (status, signal) => resolve({ status, signal, stderr })));
}

type Fault = 'fail' | 'hold' | 'refuse-checksum' | undefined;

/**
 * Passes requests on to the gateway, except those `fault` says to fail (500), hold (never answered) or
 * refuse as a store without that checksum does (400 naming the checksum header).
 */
class FaultProxy {
  private server!: Server;
  endpoint = '';
  fault: (req: IncomingMessage, url: URL) => Fault = () => undefined;
  /** Every request seen, as `METHOD path?query`. */
  seen: string[] = [];
  /** The headers of every CreateMultipartUpload seen (`POST …?uploads`). */
  created: IncomingMessage['headers'][] = [];
  private held: (() => void)[] = [];

  async start(): Promise<void> {
    const target = new URL(endpoint!);
    this.server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://proxy');
      this.seen.push(`${req.method} ${url.pathname}${url.search}`);
      if (req.method === 'POST' && url.searchParams.has('uploads')) this.created.push(req.headers);
      const fault = this.fault(req, url);
      if (fault === 'hold') {
        this.held.push(() => res.destroy());
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (fault === 'fail') {
          res.writeHead(500, { 'content-type': 'application/xml' });
          res.end('<Error><Code>InternalError</Code><Message>injected by the test</Message></Error>');
          return;
        }
        if (fault === 'refuse-checksum') {
          res.writeHead(400, { 'content-type': 'application/xml' });
          res.end('<Error><Code>InvalidRequest</Code><Message>x-amz-checksum-type FULL_OBJECT is not supported</Message></Error>');
          return;
        }
        const out = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        out.on('error', () => res.destroy());
        out.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    this.endpoint = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  reset(): void {
    this.fault = () => undefined;
    this.seen = [];
    this.created = [];
    for (const drop of this.held.splice(0)) drop();
  }

  async stop(): Promise<void> {
    this.reset();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Waits (bounded) until `ready` holds. */
async function until(ready: () => boolean | Promise<boolean>): Promise<boolean> {
  for (let waited = 0; waited < 30_000; waited += 50) {
    if (await ready()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function qemu(args: string[]): string {
  const r = spawnSync('qemu-img', args, { encoding: 'utf8' });
  return r.stdout + r.stderr;
}

describe('--parallel usage errors', () => {
  const dir = tempDir('vhdx-par-usage-');
  afterAll(() => dir.cleanup());
  it('refuses N < 1 or not a number, a VHDX input, a stream input, standard output and --parent, before any work', async () => {
    const raw = join(dir.path, 'disk.raw');
    writeFileSync(raw, makeRaw(2 * MiB, 'mixed', 3));
    expect((await vhdx(['convert', raw, 'disk.vhdx', '-q'], dir.path)).status).toBe(0);
    const cases: [string[], RegExp][] = [
      [[raw, 'a.vhdx', '--parallel', '0'], /--parallel takes a number of worker threads from 1/],
      [[raw, 'a.vhdx', '--parallel', 'four'], /--parallel takes a number of worker threads from 1/],
      [['disk.vhdx', 'a.raw', '--parallel', '2'], /--parallel converts a raw disk to VHDX, not vhdx -> raw/],
      [['disk.vhdx', 'b.vhdx', '--parallel', '2'], /--parallel converts a raw disk to VHDX, not vhdx -> vhdx/],
      [[raw, 'c.vhdx', '--parallel', '2', '--parent', 'disk.vhdx'], /--parallel converts a raw disk to VHDX, not a differencing child/],
      [['-', 'd.vhdx', '--parallel', '2', '--size', '2M'], /--parallel reads the input at random offsets/],
      [
        [raw, '-', '-O', 'vhdx', '--parallel', '2'],
        /--parallel writes parts at their offsets: the output must be a file or an s3:\/\/ object/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await vhdx(['convert', ...args], dir.path);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^vhdx: error\[USAGE\]: /);
      expect(r.stderr).toMatch(message);
    }
    expect(readdirSync(dir.path).sort()).toEqual(['disk.raw', 'disk.vhdx']);
  });
});

if (IN_CI && !endpoint) {
  it('the --parallel s3 tests need the gateway .ci/run starts (scripts/rgw.sh start)', () => {
    expect.fail('AWS_ENDPOINT_URL is not set: the Ceph gateway did not start');
  });
}

describe.skipIf(!endpoint)('--parallel into a file and into s3:// (Ceph RGW)', () => {
  const dir = tempDir('vhdx-par-');
  // four parts of the default 16 MiB and a short fifth: every worker renders more than one
  const raw = makeRaw(72 * MiB + 512 * 5, 'mixed', 11);
  const rawPath = join(dir.path, 'disk.raw');
  const single = join(dir.path, 'single.vhdx');
  const proxy = new FaultProxy();
  const viaProxy = () => ({ ...process.env, AWS_ENDPOINT_URL: proxy.endpoint });

  /** The object `key` downloaded, then the same disk as the raw and as the single-stream VHDX, and a clean check. */
  async function expectSameAsSingle(file: string): Promise<void> {
    expect(qemu(['compare', '-f', 'raw', '-F', 'vhdx', rawPath, file])).toContain('Images are identical');
    expect(qemu(['compare', '-f', 'vhdx', '-F', 'vhdx', single, file])).toContain('Images are identical');
    expect(qemu(['check', '-f', 'vhdx', file])).toContain('No errors were found');
    const check = spawnSync(process.execPath, [BIN, 'check', file], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  }

  async function downloaded(key: string): Promise<string> {
    const res = await signed('GET', `/${bucket}/${key}`);
    expect(res.status).toBe(200);
    const file = join(dir.path, `got-${key.replace(/\//g, '_')}`);
    writeFileSync(file, new Uint8Array(await res.arrayBuffer()));
    return file;
  }

  beforeAll(async () => {
    writeFileSync(rawPath, raw);
    expect((await signed('PUT', `/${bucket}`)).status).toBe(200);
    expect((await signed('PUT', `/${bucket}/disk.raw`, raw)).status).toBe(200);
    const r = await vhdx(['convert', rawPath, single, '-q'], dir.path);
    expect(r.status, r.stderr).toBe(0);
    await proxy.start();
  });
  afterAll(async () => {
    await proxy.stop();
    await removeBucket(bucket);
    dir.cleanup();
  });

  it('file -> file and s3 -> file with --parallel 4: the same disk as the single-stream VHDX, all-zero stretches left as holes', async () => {
    for (const input of [rawPath, `s3://${bucket}/disk.raw`]) {
      const out = join(dir.path, 'par.vhdx');
      const r = await vhdx(['convert', input, out, '--parallel', '4', '-q', '--force'], dir.path);
      expect(r.status, r.stderr).toBe(0);
      await expectSameAsSingle(out);
      const blocks = Number(spawnSync('stat', ['-c', '%b', out], { encoding: 'utf8' }).stdout) * 512;
      expect(blocks).toBeLessThan(raw.length);
    }
  });

  it('file -> s3 and s3 -> s3 with --parallel 4: the object is the same disk as the single-stream VHDX; no open upload left', async () => {
    for (const [input, key] of [
      [rawPath, 'from-file.vhdx'],
      [`s3://${bucket}/disk.raw`, 'from-s3.vhdx'],
    ] as const) {
      const r = await vhdx(['convert', input, `s3://${bucket}/${key}`, '--parallel', '4', '-q'], dir.path);
      expect(r.status, r.stderr).toBe(0);
      await expectSameAsSingle(await downloaded(key));
    }
    expect(await openUploads()).toEqual([]);
  });

  it('a part upload that fails once is retried (the object is whole); one that always fails aborts the upload: no object, no open upload', async () => {
    let failed = false;
    proxy.fault = (req, url) => {
      if (req.method !== 'PUT' || url.searchParams.get('partNumber') !== '3' || failed) return undefined;
      failed = true;
      return 'fail';
    };
    const once = await vhdx(['convert', rawPath, `s3://${bucket}/retried.vhdx`, '--parallel', '4', '-q'], dir.path, viaProxy());
    expect(once.status, once.stderr).toBe(0);
    expect(proxy.seen.filter((s) => s.startsWith('PUT') && s.includes('partNumber=3')).length).toBe(2);
    await expectSameAsSingle(await downloaded('retried.vhdx'));

    proxy.reset();
    proxy.fault = (req, url) => (req.method === 'PUT' && url.searchParams.get('partNumber') === '3' ? 'fail' : undefined);
    const always = await vhdx(['convert', rawPath, `s3://${bucket}/failed.vhdx`, '--parallel', '4', '-q'], dir.path, viaProxy());
    expect(always.status).not.toBe(0);
    expect(always.stderr).toMatch(/UploadPart 3 failed with 500 InternalError/);
    expect(proxy.seen.filter((s) => s.startsWith('DELETE') && s.includes('uploadId='))).toHaveLength(1);
    proxy.reset();
    expect(await openUploads()).toEqual([]);
    expect((await signed('HEAD', `/${bucket}/failed.vhdx`)).status).toBe(404);
  });

  it('--s3-checksum sets the checksum CreateMultipartUpload asks for, single stream and --parallel; a store refusing FULL_OBJECT gets an error naming --s3-checksum composite, which then works', async () => {
    // [flags, x-amz-checksum-algorithm, x-amz-checksum-type] at CreateMultipartUpload
    const cases: [string[], string | undefined, string | undefined][] = [
      [[], 'CRC32C', 'FULL_OBJECT'],
      [['--s3-checksum', 'full-object', '--parallel', '2'], 'CRC32C', 'FULL_OBJECT'],
      [['--s3-checksum', 'composite'], 'CRC32C', undefined],
      [['--s3-checksum=composite', '--parallel', '2'], 'CRC32C', undefined],
      [['--s3-checksum', 'none'], undefined, undefined],
      [['--s3-checksum', 'none', '--parallel', '2'], undefined, undefined],
    ];
    for (const [i, [flags, algorithm, type]] of cases.entries()) {
      proxy.reset();
      const key = `checksum-${i}.vhdx`;
      const r = await vhdx(['convert', rawPath, `s3://${bucket}/${key}`, '-q', ...flags], dir.path, viaProxy());
      expect(r.status, `${flags.join(' ')}: ${r.stderr}`).toBe(0);
      expect(proxy.created, flags.join(' ')).toHaveLength(1);
      expect(proxy.created[0]!['x-amz-checksum-algorithm'], flags.join(' ')).toBe(algorithm);
      expect(proxy.created[0]!['x-amz-checksum-type'], flags.join(' ')).toBe(type);
      if (flags.length > 0) await expectSameAsSingle(await downloaded(key));
    }

    proxy.reset();
    proxy.fault = (req, url) =>
      req.method === 'POST' && url.searchParams.has('uploads') && req.headers['x-amz-checksum-type'] ? 'refuse-checksum' : undefined;
    for (const parallel of [[], ['--parallel', '2']]) {
      const refused = await vhdx(['convert', rawPath, `s3://${bucket}/refused.vhdx`, '-q', ...parallel], dir.path, viaProxy());
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(
        /^vhdx: error\[UNSUPPORTED\]: the store refused the CRC-32C checksum headers of CreateMultipartUpload .*; it may not support --s3-checksum full-object: give --s3-checksum composite \(or none\)$/m,
      );
    }
    const composite = await vhdx(
      ['convert', rawPath, `s3://${bucket}/refused.vhdx`, '-q', '--s3-checksum', 'composite'],
      dir.path,
      viaProxy(),
    );
    expect(composite.status, composite.stderr).toBe(0);
    await expectSameAsSingle(await downloaded('refused.vhdx'));
    proxy.reset();
    expect(await openUploads()).toEqual([]);
  });

  it('SIGINT with --parallel: to s3, no object and no open upload; to a file, no file (not even a temporary one)', async () => {
    const partHeld = (req: IncomingMessage, url: URL): Fault =>
      req.method === 'PUT' && url.searchParams.get('partNumber') === '2' ? 'hold' : undefined;
    proxy.fault = partHeld;
    let kill = () => {};
    const toS3 = vhdx(['convert', rawPath, `s3://${bucket}/interrupted.vhdx`, '--parallel', '4', '-q'], dir.path, viaProxy(), (k) => {
      kill = k;
    });
    expect(await until(() => proxy.seen.some((s) => s.startsWith('PUT') && s.includes('partNumber=2')))).toBe(true);
    kill();
    const ended = await toS3;
    expect([ended.status, ended.signal]).toEqual([null, 'SIGINT']);
    proxy.reset();
    expect(await openUploads()).toEqual([]);
    expect((await signed('HEAD', `/${bucket}/interrupted.vhdx`)).status).toBe(404);

    // a file output, its input read through the proxy: one ranged read held
    proxy.fault = (req) => (req.method === 'GET' && /bytes=[1-9]/.test(String(req.headers.range)) ? 'hold' : undefined);
    const out = join(dir.path, 'interrupted');
    const before = readdirSync(dir.path).sort();
    const toFile = vhdx(['convert', `s3://${bucket}/disk.raw`, `${out}.vhdx`, '--parallel', '4', '-q'], dir.path, viaProxy(), (k) => {
      kill = k;
    });
    expect(await until(() => proxy.seen.some((s) => s.startsWith('GET')) && readdirSync(dir.path).length > before.length)).toBe(true);
    kill();
    const fileEnded = await toFile;
    expect([fileEnded.status, fileEnded.signal]).toEqual([null, 'SIGINT']);
    proxy.reset();
    expect(existsSync(`${out}.vhdx`)).toBe(false);
    expect(readdirSync(dir.path).sort()).toEqual(before);
  });
});
