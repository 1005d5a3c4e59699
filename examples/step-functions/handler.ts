// AWS Lambda handlers that convert one raw disk in S3 into a dynamic VHDX in
// S3, fanned out by a Step Functions Distributed Map (state-machine.json):
//
//   prepare   sizes the raw object and cuts its blocks into scan slices
//   scan      (one per slice, in a Map) finds the slice's blocks that hold data, by ranged GETs
//   plan      joins the slices into the allocation map, plans the VHDX (planVhdx),
//             stores the plan beside the output and starts the multipart upload
//   part      (one per part, in a Map) renders its part (renderVhdxPart) and uploads it
//             with its CRC-32C (uploadS3Part); a retried part gives the same bytes
//   complete  completes the upload with the whole object's CRC-32C (combined from the parts')
//   abort     (on any failure) aborts the upload: no half object, no open upload
//
// Only the package's public API is used. Credentials and region come from the
// Lambda environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_REGION); AWS_ENDPOINT_URL points at another
// S3-compatible store (path style), as the local test does with Ceph RGW.
import {
  type S3Location,
  type S3UploadedPart,
  type S3UploadResult,
  type VhdxPlan,
  abortS3Upload,
  completeS3Upload,
  createS3Upload,
  planVhdx,
  renderVhdxPart,
  s3Fetch,
  s3ObjectUrl,
  s3Source,
  scanAllocation,
  uploadS3Part,
} from 'vhdx-stream';

/** The execution's input. */
export interface ConvertJob {
  bucket: string;
  /** The raw disk. */
  rawKey: string;
  /** The VHDX to make (replaced if it exists). */
  vhdxKey: string;
  /** VHDX block size (default 32 MiB: fewer, larger ranged reads). */
  blockSize?: number;
  /** Bytes per part (default: the library's, 16 MiB or more to stay within 10,000 parts). */
  partSize?: number;
  /** Blocks per scan slice (default 256: 8 GiB of disk at 32 MiB blocks). */
  blocksPerSlice?: number;
}

/** What prepare hands on: the job, the disk's size and the scan slices. */
export interface Prepared extends ConvertJob {
  blockSize: number;
  rawSize: number;
  slices: { first: number; end: number }[];
}

/** One scan slice's answer: runs [first, end) of blocks holding data. */
export interface ScannedSlice {
  runs: number[];
}

/** What plan hands on to the parts and to complete. */
export interface Planned {
  bucket: string;
  rawKey: string;
  vhdxKey: string;
  planKey: string;
  uploadId: string;
  /** Part indexes, the Map's items. */
  parts: number[];
}

const SECTOR = 512;

function env(name: string): string | undefined {
  return (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];
}

/** An object of the bucket, reached as the environment says. */
export function locationOf(bucket: string, key: string): S3Location {
  const region = env('AWS_REGION') ?? 'us-east-1';
  const endpoint = env('AWS_ENDPOINT_URL');
  const sessionToken = env('AWS_SESSION_TOKEN');
  return {
    endpoint: endpoint ?? `https://s3.${region}.amazonaws.com`,
    bucket,
    key,
    region,
    credentials: {
      accessKeyId: env('AWS_ACCESS_KEY_ID') ?? '',
      secretAccessKey: env('AWS_SECRET_ACCESS_KEY') ?? '',
      ...(sessionToken ? { sessionToken } : {}),
    },
    ...(endpoint ? {} : { virtualHosted: true }),
  };
}

const planKeyOf = (job: { vhdxKey: string }) => `${job.vhdxKey}.plan.json`;

export async function prepare(job: ConvertJob): Promise<Prepared> {
  const raw = await s3Source(locationOf(job.bucket, job.rawKey));
  await raw.close?.();
  const blockSize = job.blockSize ?? 32 * 1024 * 1024;
  const blocks = Math.ceil(raw.size / blockSize);
  const per = job.blocksPerSlice ?? 256;
  const slices = [];
  for (let first = 0; first < blocks; first += per) slices.push({ first, end: Math.min(blocks, first + per) });
  return { ...job, blockSize, rawSize: raw.size, slices };
}

export async function scan(event: { bucket: string; rawKey: string; blockSize: number; slice: { first: number; end: number } }): Promise<ScannedSlice> {
  const { first, end } = event.slice;
  const map = await scanAllocation(await s3Source(locationOf(event.bucket, event.rawKey)), { blockSize: event.blockSize, blocks: { first, end } });
  const runs: number[] = [];
  for (let b = first; b < end; b++) {
    if (!map.present[b]) continue;
    if (runs.length > 0 && runs[runs.length - 1] === b) runs[runs.length - 1] = b + 1;
    else runs.push(b, b + 1);
  }
  return { runs };
}

export async function plan(event: Prepared & { scans: ScannedSlice[] }): Promise<Planned> {
  // a raw disk that is not whole sectors is padded with zeros (readRaw below)
  const virtualSize = Math.ceil(event.rawSize / SECTOR) * SECTOR;
  const present = new Uint8Array(Math.ceil(virtualSize / event.blockSize));
  for (const { runs } of event.scans) for (let i = 0; i < runs.length; i += 2) present.fill(1, runs[i], runs[i + 1]);
  const vhdxPlan = planVhdx({
    virtualSize,
    blockSize: event.blockSize,
    allocationMap: { virtualSize, blockSize: event.blockSize, present },
    ...(event.partSize ? { partSize: event.partSize } : {}),
  });
  // the plan can outgrow a state's 256 KiB payload (a fragmented disk): it is kept in the bucket
  const planKey = planKeyOf(event);
  const put = await s3Fetch(locationOf(event.bucket, planKey))(s3ObjectUrl(locationOf(event.bucket, planKey)), {
    method: 'PUT',
    body: JSON.stringify(vhdxPlan),
    headers: { 'content-type': 'application/json' },
  });
  if (!put.ok) throw new Error(`storing the plan answered ${put.status}`);
  const uploadId = await createS3Upload(locationOf(event.bucket, event.vhdxKey));
  const parts = Array.from({ length: vhdxPlan.partCount }, (_, i) => i);
  return { bucket: event.bucket, rawKey: event.rawKey, vhdxKey: event.vhdxKey, planKey, uploadId, parts };
}

/** Plans read by this Lambda instance (a warm instance renders many parts of one plan). */
const plans = new Map<string, Promise<VhdxPlan>>();

function planOf(bucket: string, planKey: string): Promise<VhdxPlan> {
  const key = `${bucket}/${planKey}`;
  let known = plans.get(key);
  if (!known) {
    const at = locationOf(bucket, planKey);
    known = s3Fetch(at)(s3ObjectUrl(at)).then(async (res) => {
      if (!res.ok) throw new Error(`reading the plan answered ${res.status}`);
      return (await res.json()) as VhdxPlan;
    });
    known.catch(() => plans.delete(key));
    plans.set(key, known);
  }
  return known;
}

export async function part(event: Omit<Planned, 'parts'> & { index: number }): Promise<S3UploadedPart> {
  const vhdxPlan = await planOf(event.bucket, event.planKey);
  const raw = await s3Source(locationOf(event.bucket, event.rawKey));
  try {
    const readRaw = async (offset: number, length: number) => {
      const bytes = new Uint8Array(length);
      const readable = Math.max(0, Math.min(length, raw.size - offset));
      if (readable > 0) bytes.set(await raw.read(offset, readable));
      return bytes;
    };
    const rendered = await renderVhdxPart(vhdxPlan, event.index, readRaw);
    return await uploadS3Part(locationOf(event.bucket, event.vhdxKey), event.uploadId, event.index + 1, rendered.bytes, rendered.crc);
  } finally {
    await raw.close?.();
  }
}

/** The stored plan removed (it is only needed while the parts are made). */
async function dropPlan(bucket: string, planKey: string): Promise<void> {
  const at = locationOf(bucket, planKey);
  await s3Fetch(at)(s3ObjectUrl(at), { method: 'DELETE' }).catch(() => undefined);
  plans.delete(`${bucket}/${planKey}`);
}

export async function complete(event: Omit<Planned, 'parts'> & { uploaded: S3UploadedPart[] }): Promise<S3UploadResult> {
  // the Map's results come in item order: part i is number i + 1
  const result = await completeS3Upload(locationOf(event.bucket, event.vhdxKey), event.uploadId, event.uploaded);
  await dropPlan(event.bucket, event.planKey);
  return result;
}

export async function abort(event: Partial<Planned> & { bucket: string; vhdxKey: string }): Promise<{ aborted: boolean }> {
  await dropPlan(event.bucket, planKeyOf(event));
  if (!event.uploadId) return { aborted: false };
  await abortS3Upload(locationOf(event.bucket, event.vhdxKey), event.uploadId);
  return { aborted: true };
}
