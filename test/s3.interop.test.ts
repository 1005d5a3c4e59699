// file -> S3 through uploadToS3 against a real Ceph RADOS Gateway
// (scripts/rgw.sh start; AWS_ENDPOINT_URL and the keys it prints in the
// environment), then the object downloaded and compared with qemu-img.
// Skipped when no endpoint is given, except under CI=true, where .ci/run starts
// the gateway and a missing one is a failure.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VhdxEncoderStream, crc32c, planVhdx, scanAllocation, uploadToS3, uploadVhdxPlan } from '../src/index.js';
import { collect } from './helpers/images.js';
import { chunkedStream, makeRaw } from './helpers/images.js';
import { credentials, endpoint, region, removeBucket, signed } from './helpers/rgw.js';
import { IN_CI, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;

if (IN_CI && !endpoint) {
  it('S3 interop needs the gateway .ci/run starts (scripts/rgw.sh start)', () => {
    expect.fail('AWS_ENDPOINT_URL is not set: the Ceph gateway did not start');
  });
}

describe.skipIf(!endpoint)('S3 interop (Ceph RGW)', () => {
  it('file -> s3 via uploadToS3; the downloaded object is the same disk (qemu-img compare), no open upload left', async () => {
    const dir = tempDir('vhdx-s3-');
    const raw = makeRaw(40 * MiB + 512, 'mixed', 5);
    writeFileSync(join(dir.path, 'disk.raw'), raw);
    const bucket = `vhdx-${Date.now()}`;
    expect((await signed('PUT', `/${bucket}`)).status).toBe(200);
    const allocationMap = await scanAllocation(raw, { blockSize: MiB });
    const encoder = new VhdxEncoderStream({ allocationMap });
    const upload = uploadToS3(encoder.readable, {
      endpoint: endpoint!,
      region,
      credentials,
      bucket,
      key: 'disk.vhdx',
      outputSize: encoder.outputSize,
      partSize: 5 * MiB,
    });
    await chunkedStream(raw).pipeTo(encoder.writable);
    const result = await upload;
    const got = new Uint8Array(await (await signed('GET', `/${bucket}/disk.vhdx`)).arrayBuffer());
    expect(got.length).toBe(encoder.outputSize);
    expect(crc32c(got)).toBe(result.crc32c);
    writeFileSync(join(dir.path, 'disk.vhdx'), got);
    const cmp = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'vhdx', 'disk.raw', 'disk.vhdx'], { cwd: dir.path, encoding: 'utf8' });
    expect(cmp.stdout + cmp.stderr).toContain('Images are identical');
    const open = await (await signed('GET', `/${bucket}?uploads`)).text();
    expect(open).not.toContain('<Upload>');
    await removeBucket(bucket);
    dir.cleanup();
  });

  it("uploadVhdxPlan: a plan rendered and uploaded 3 parts at a time is the encoder's output byte for byte; scans of block ranges join into the map", async () => {
    const raw = makeRaw(23 * MiB + 1024, 'mixed', 9);
    const whole = await scanAllocation(raw, { blockSize: MiB });
    // two disjoint ranges of blocks, scanned apart (as workers would) and OR-ed together
    const cut = 9;
    const [a, b] = await Promise.all([
      scanAllocation(raw, { blockSize: MiB, blocks: { first: 0, end: cut } }),
      scanAllocation(raw, { blockSize: MiB, blocks: { first: cut, end: whole.present.length } }),
    ]);
    expect(a.present.subarray(cut).every((x) => x === 0)).toBe(true);
    const present = a.present.map((x, i) => x | b.present[i]!);
    expect(present).toEqual(whole.present);
    const allocationMap = { ...whole, present };
    const plan = planVhdx({ allocationMap, partSize: 5 * MiB });
    expect(plan.partCount).toBeGreaterThan(3);
    const bucket = `vhdx-plan-${Date.now()}`;
    expect((await signed('PUT', `/${bucket}`)).status).toBe(200);
    const readRaw = async (offset: number, length: number) => raw.slice(offset, offset + length);
    const result = await uploadVhdxPlan(plan, readRaw, {
      endpoint: endpoint!,
      region,
      credentials,
      bucket,
      key: 'plan.vhdx',
      concurrency: 3,
    });
    expect(result.parts).toBe(plan.partCount);
    const got = new Uint8Array(await (await signed('GET', `/${bucket}/plan.vhdx`)).arrayBuffer());
    const o = plan.options;
    const encoder = new VhdxEncoderStream({ allocationMap, blockSize: o.blockSize, guids: o.guids });
    const expected = await collect(chunkedStream(raw).pipeThrough(encoder));
    expect(Buffer.from(got).equals(Buffer.from(expected))).toBe(true);
    expect(result.crc32c).toBe(crc32c(got));
    expect(await (await signed('GET', `/${bucket}?uploads`)).text()).not.toContain('<Upload>');
    await removeBucket(bucket);
  });
});
