// examples/step-functions run locally: the Lambda handlers called as the
// state machine would call them (prepare -> scan per slice -> plan -> part per
// index, in any order and one retried -> complete; and abort after a failure)
// against a real Ceph RADOS Gateway (scripts/rgw.sh start; AWS_ENDPOINT_URL and
// the keys it prints in the environment); the object compared with the raw
// disk by qemu-img. The state machine's definition is checked to name only
// handlers that exist. Skipped when no endpoint is given, except under
// CI=true, where .ci/run starts the gateway and a missing one is a failure.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as handlers from '../examples/step-functions/handler.js';
import { crc32c } from '../src/index.js';
import { makeRaw } from './helpers/images.js';
import { endpoint, openUploads, removeBucket, signed } from './helpers/rgw.js';
import { IN_CI, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const bucket = `vhdx-sfn-${Date.now()}`;

it('the state machine names only handlers the example exports, and maps over what they return', () => {
  const definition = JSON.parse(readFileSync(new URL('../examples/step-functions/state-machine.json', import.meta.url), 'utf8'));
  const names: string[] = [];
  const walk = (states: Record<string, { Parameters?: { FunctionName?: string }; ItemProcessor?: { States: object } }>) => {
    for (const state of Object.values(states)) {
      const fn = state.Parameters?.FunctionName;
      if (fn) names.push(/^\$\{(\w+)FunctionArn\}$/.exec(fn)![1]!);
      if (state.ItemProcessor) walk(state.ItemProcessor.States as typeof states);
    }
  };
  walk(definition.States);
  expect(names).toEqual(['Prepare', 'Scan', 'Plan', 'Part', 'Complete', 'Abort']);
  for (const name of names)
    expect(typeof (handlers as Record<string, unknown>)[name[0]!.toLowerCase() + name.slice(1)], name).toBe('function');
  expect(definition.States.Scan.ItemsPath).toBe('$.slices');
  expect(definition.States.Parts.ItemsPath).toBe('$.parts');
  expect(definition.States.Parts.ResultPath).toBe('$.uploaded');
});

if (IN_CI && !endpoint) {
  it('the Step Functions example test needs the gateway .ci/run starts (scripts/rgw.sh start)', () => {
    expect.fail('AWS_ENDPOINT_URL is not set: the Ceph gateway did not start');
  });
}

describe.skipIf(!endpoint)('examples/step-functions handlers, run locally (Ceph RGW)', () => {
  const dir = tempDir('vhdx-sfn-');
  afterAll(async () => {
    await removeBucket(bucket);
    dir.cleanup();
  });
  // not whole sectors: the plan pads it with zeros
  const raw = makeRaw(40 * MiB + 700, 'mixed', 13);
  const job = { bucket, rawKey: 'disk.raw', blockSize: MiB, partSize: 5 * MiB, blocksPerSlice: 7 };

  async function planned(vhdxKey: string) {
    const prepared = await handlers.prepare({ ...job, vhdxKey });
    expect(prepared.slices.length).toBe(6);
    const scans = await Promise.all(prepared.slices.map((slice) => handlers.scan({ ...prepared, slice })));
    const out = await handlers.plan({ ...prepared, scans });
    const { parts, ...rest } = out;
    return { parts, rest };
  }

  it('prepare, scan, plan, parts (out of order, one retried), complete: the object is the disk; no open upload, no plan left', async () => {
    expect((await signed('PUT', `/${bucket}`)).status).toBe(200);
    expect((await signed('PUT', `/${bucket}/disk.raw`, raw)).status).toBe(200);
    const { parts, rest } = await planned('disk.vhdx');
    expect(parts.length).toBeGreaterThan(4);
    const uploaded = new Array(parts.length);
    for (const index of [...parts].reverse()) uploaded[index] = await handlers.part({ ...rest, index });
    // a retried invocation renders the same bytes: the same CRC, and the part is replaced
    const again = await handlers.part({ ...rest, index: 1 });
    expect(again.crc).toBe(uploaded[1].crc);
    uploaded[1] = again;
    const result = await handlers.complete({ ...rest, uploaded });
    const got = new Uint8Array(await (await signed('GET', `/${bucket}/disk.vhdx`)).arrayBuffer());
    expect(crc32c(got)).toBe(result.crc32c);
    writeFileSync(join(dir.path, 'disk.raw'), raw);
    writeFileSync(join(dir.path, 'disk.vhdx'), got);
    const cmp = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'vhdx', 'disk.raw', 'disk.vhdx'], { cwd: dir.path, encoding: 'utf8' });
    expect(cmp.stdout + cmp.stderr).toContain('Images are identical');
    const check = spawnSync(process.execPath, [BIN, 'check', join(dir.path, 'disk.vhdx')], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(await openUploads(bucket)).toEqual([]);
    expect((await signed('HEAD', `/${bucket}/${rest.planKey}`)).status).toBe(404);
  });

  it('abort after some parts: no object, no open upload, no plan left', async () => {
    const { rest } = await planned('aborted.vhdx');
    await handlers.part({ ...rest, index: 0 });
    expect(await openUploads(bucket)).toEqual(['aborted.vhdx']);
    expect(await handlers.abort({ ...rest, error: { Error: 'States.TaskFailed' } } as Parameters<typeof handlers.abort>[0])).toEqual({
      aborted: true,
    });
    expect(await openUploads(bucket)).toEqual([]);
    expect((await signed('HEAD', `/${bucket}/aborted.vhdx`)).status).toBe(404);
    expect((await signed('HEAD', `/${bucket}/${rest.planKey}`)).status).toBe(404);
  });
});
