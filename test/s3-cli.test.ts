// `vhdx convert` and `vhdx info` with s3://bucket/key against a real Ceph
// RADOS Gateway (scripts/rgw.sh start; AWS_ENDPOINT_URL and the keys it prints
// in the environment): every output downloaded and compared with qemu-img (a
// VHDX) or byte for byte (raw). Skipped when no endpoint is given, except under
// CI=true, where .ci/run starts the gateway and a missing one is a failure.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVhdx, s3ObjectUrl, s3Source, scanAllocation } from '../src/index.js';
import { s3Location } from '../src/cli/s3.js';
import { makeRaw } from './helpers/images.js';
import { credentials, endpoint, openUploads as uploadsIn, region, removeBucket, signed } from './helpers/rgw.js';
import { IN_CI, sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const bucket = `vhdx-cli-${Date.now()}`;
const openUploads = () => uploadsIn(bucket);

async function download(key: string): Promise<Uint8Array> {
  const res = await signed('GET', `/${bucket}/${key}`);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

describe('--s3-checksum usage errors (no store reached)', () => {
  const dir = tempDir('vhdx-s3-checksum-');
  afterAll(() => dir.cleanup());
  // a store nothing listens on: a usage error is found before any request
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'secret', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };

  it('a value other than full-object, composite or none, or an output that is not s3://, is a usage error (exit 2) before any work', () => {
    const raw = join(dir.path, 'disk.raw');
    writeFileSync(raw, makeRaw(MiB, 'mixed', 3));
    const cases: [string[], RegExp][] = [
      [[raw, 's3://b/a.vhdx', '--s3-checksum', 'crc32'], /--s3-checksum must be full-object, composite, none, got "crc32"$/],
      [
        [raw, 's3://b/a.vhdx', '--s3-checksum=FULL_OBJECT', '--parallel', '2'],
        /--s3-checksum must be full-object, composite, none, got "FULL_OBJECT"$/,
      ],
      [[raw, 's3://b/a.vhdx', '--s3-checksum'], /--s3-checksum needs a value \(full-object\|composite\|none\)$/],
      [[raw, 'a.vhdx', '--s3-checksum', 'composite'], /--s3-checksum applies to an s3:\/\/ output, not a\.vhdx$/],
    ];
    for (const [args, message] of cases) {
      const r = spawnSync(process.execPath, [BIN, 'convert', ...args], { cwd: dir.path, env, encoding: 'utf8' });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim()).toMatch(/^vhdx: error\[USAGE\]: /);
      expect(r.stderr.trim()).toMatch(message);
    }
    const info = spawnSync(process.execPath, [BIN, 'info', raw, '--s3-checksum', 'composite'], { cwd: dir.path, env, encoding: 'utf8' });
    expect(info.status).toBe(2);
    expect(info.stderr).toMatch(/--s3-checksum does not apply to info/);
    expect(readdirSync(dir.path)).toEqual(['disk.raw']);
  });

  it('vhdx convert --help lists --s3-checksum and its values', () => {
    const r = spawnSync(process.execPath, [BIN, 'convert', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--s3-checksum full-object\|composite\|none\s+.*composite.*R2/);
  });
});

if (IN_CI && !endpoint) {
  it('the s3:// CLI tests need the gateway .ci/run starts (scripts/rgw.sh start)', () => {
    expect.fail('AWS_ENDPOINT_URL is not set: the Ceph gateway did not start');
  });
}

describe.skipIf(!endpoint)('s3:// in the CLI (Ceph RGW)', () => {
  const dir = tempDir('vhdx-s3-cli-');
  const raw = makeRaw(24 * MiB + 512 * 3, 'mixed', 7);
  const rawPath = join(dir.path, 'disk.raw');
  const padded = new Uint8Array(Math.ceil(raw.length / MiB) * MiB);
  padded.set(raw);

  function vhdx(args: string[], input?: Uint8Array, env: NodeJS.ProcessEnv = process.env) {
    const r = spawnSync(process.execPath, [BIN, ...args], { input, cwd: dir.path, env, maxBuffer: 256 * MiB });
    return { status: r.status, stdout: r.stdout as Buffer, stderr: String(r.stderr) };
  }

  /** The object `key` downloaded into the temporary directory, compared with the raw disk by qemu-img. */
  async function expectSameDisk(key: string, disk = rawPath): Promise<void> {
    const file = join(dir.path, key.replace(/\//g, '_'));
    writeFileSync(file, await download(key));
    const cmp = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'vhdx', disk, file], { encoding: 'utf8' });
    expect(cmp.stdout + cmp.stderr).toContain('Images are identical');
  }

  beforeAll(async () => {
    writeFileSync(rawPath, raw);
    expect((await signed('PUT', `/${bucket}`)).status).toBe(200);
    expect((await signed('PUT', `/${bucket}/disk.raw`, raw)).status).toBe(200);
  });
  afterAll(async () => {
    await removeBucket(bucket);
    dir.cleanup();
  });

  it('file -> s3 (raw to VHDX, scanned first): the object is the same disk; an existing object is refused without --force', async () => {
    const r = vhdx(['convert', rawPath, `s3://${bucket}/from-file.vhdx`, '--block-size', '1M']);
    expect(r.status, r.stderr).toBe(0);
    await expectSameDisk('from-file.vhdx');
    const vhdxBytes = await download('from-file.vhdx');
    // the all-zero blocks of the mixed disk are left out, as for a file output
    expect(vhdxBytes.length).toBeLessThan(raw.length);
    const again = vhdx(['convert', rawPath, `s3://${bucket}/from-file.vhdx`, '--block-size', '2M']);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^vhdx: error\[USAGE\]: .*exists.*--force/);
    expect(sha256(await download('from-file.vhdx'))).toBe(sha256(vhdxBytes));
    const forced = vhdx(['convert', rawPath, `s3://${bucket}/from-file.vhdx`, '--block-size', '2M', '--force']);
    expect(forced.status, forced.stderr).toBe(0);
    await expectSameDisk('from-file.vhdx');
  });

  it('s3 -> file (VHDX to raw, by signed Range GETs) and vhdx info s3://…', async () => {
    expect(vhdx(['convert', rawPath, `s3://${bucket}/for-reading.vhdx`]).status).toBe(0);
    const out = join(dir.path, 'from-s3.raw');
    const r = vhdx(['convert', `s3://${bucket}/for-reading.vhdx`, out]);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(raw));
    const info = vhdx(['info', `s3://${bucket}/for-reading.vhdx`, '--json']);
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(String(info.stdout))).toMatchObject({ virtualSize: raw.length });
  });

  it('library: s3Source reads an object by signed Range GETs for scanAllocation and openVhdx; the CLI maps the environment to its location', async () => {
    const location = { endpoint: endpoint!, region, credentials, bucket, key: 'disk.raw' };
    const map = await scanAllocation(await s3Source(location), { blockSize: MiB });
    expect(map.virtualSize).toBe(raw.length);
    expect(map.present).toEqual((await scanAllocation(raw, { blockSize: MiB })).present);
    expect(vhdx(['convert', rawPath, `s3://${bucket}/lib.vhdx`]).status).toBe(0);
    const image = await openVhdx(await s3Source({ ...location, key: 'lib.vhdx' }));
    expect(sha256(await image.read(0, raw.length))).toBe(sha256(raw));
    await image.close();
    const unsigned = await fetch(s3ObjectUrl(location), { headers: { Range: 'bytes=0-0' } });
    expect(unsigned.status).toBe(403); // the bucket is private: the reads above were signed
    const aws = s3Location('s3://b/dir/a b.vhdx', { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'eu-west-1' });
    expect(String(s3ObjectUrl(aws))).toBe('https://b.s3.eu-west-1.amazonaws.com/dir/a%20b.vhdx');
    const local = s3Location('s3://b/k.raw', {
      AWS_ACCESS_KEY_ID: 'k',
      AWS_SECRET_ACCESS_KEY: 's',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:7480',
    });
    expect(String(s3ObjectUrl(local))).toBe('http://127.0.0.1:7480/b/k.raw');
  });

  it('s3 -> s3 both ways: raw object to VHDX object, and back to a raw object byte for byte', async () => {
    const r = vhdx(['convert', `s3://${bucket}/disk.raw`, `s3://${bucket}/copy/disk.vhdx`]);
    expect(r.status, r.stderr).toBe(0);
    await expectSameDisk('copy/disk.vhdx');
    const back = vhdx(['convert', `s3://${bucket}/copy/disk.vhdx`, `s3://${bucket}/copy/disk.raw`]);
    expect(back.status, back.stderr).toBe(0);
    expect(sha256(await download('copy/disk.raw'))).toBe(sha256(raw));
  });

  it('stdin -> s3: a raw stream needs --size (every block stored); a VHDX stream becomes a raw object', async () => {
    const unsized = vhdx(['convert', '-', `s3://${bucket}/stdin.vhdx`], raw);
    expect(unsized.status).toBe(2);
    expect(unsized.stderr).toContain('--size');
    const r = vhdx(['convert', '-', `s3://${bucket}/stdin.vhdx`, '--size', String(padded.length)], raw);
    expect(r.status, r.stderr).toBe(0);
    await expectSameDisk('stdin.vhdx');
    const back = vhdx(['convert', '-', `s3://${bucket}/stdin.raw`], await download('stdin.vhdx'));
    expect(back.status, back.stderr).toBe(0);
    expect(sha256(await download('stdin.raw'))).toBe(sha256(padded));
    expect(await openUploads()).toEqual([]);
  });

  it('without credentials an s3:// argument is a usage error naming the variables', () => {
    const env = { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
    for (const args of [
      ['info', `s3://${bucket}/disk.raw`],
      ['convert', rawPath, `s3://${bucket}/nothing.vhdx`],
    ]) {
      const r = vhdx(args, undefined, env);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^vhdx: error\[USAGE\]: .*AWS_ACCESS_KEY_ID.*AWS_SECRET_ACCESS_KEY/);
    }
  });

  it('SIGINT mid-upload: the process dies of it, no object and no open multipart upload is left', async () => {
    const key = 'interrupted.vhdx';
    const child = spawn(process.execPath, [BIN, 'convert', '-', `s3://${bucket}/${key}`, '--size', String(256 * MiB)], {
      cwd: dir.path,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    child.stdin.on('error', () => {});
    child.stdin.write(makeRaw(40 * MiB, 'data', 4)); // and then nothing: the upload waits for the rest
    // wait (bounded) until a part of the upload is stored
    const partStored = async () => {
      const xml = await (await signed('GET', `/${bucket}?uploads`)).text();
      const id = /<Upload>[\s\S]*?<UploadId>([^<]*)<\/UploadId>/.exec(xml)?.[1];
      if (!id) return false;
      return (await (await signed('GET', `/${bucket}/${key}?uploadId=${encodeURIComponent(id)}`)).text()).includes('<Part>');
    };
    let stored = false;
    for (let waited = 0; !stored && waited < 30_000; waited += 100) {
      stored = await partStored();
      if (!stored) await new Promise((r) => setTimeout(r, 100));
    }
    expect(stored).toBe(true);
    child.kill('SIGINT');
    const ended = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    expect(ended).toEqual([null, 'SIGINT']);
    expect(await openUploads()).toEqual([]);
    expect((await signed('HEAD', `/${bucket}/${key}`)).status).toBe(404);
  });
});
