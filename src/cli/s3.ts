// s3://bucket/key on the command line: the location and credentials come from
// the standard AWS environment variables (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL).
// With AWS_ENDPOINT_URL the bucket is addressed path style against it (Ceph
// RGW, MinIO, R2); without it, AWS S3 itself, virtual-host style
// (https://bucket.s3.REGION.amazonaws.com). Every request is signed (SigV4).
import { s3Fetch, s3ObjectUrl, type S3Location } from '../sources/s3-object.js';
import type { S3PartOptions } from '../sources/s3.js';
import { VhdxError, asVhdxError } from '../errors.js';
import { UsageError } from './usage-error.js';

/** The variables read, named in the message when some are missing. */
export const S3_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_ENDPOINT_URL'] as const;

/** Whether `arg` names an object (`s3://…`, any case). */
export function isS3Url(arg: string): boolean {
  return /^s3:\/\//i.test(arg);
}

/**
 * The object `arg` (`s3://bucket/key`) names, reached as the environment says.
 * @throws UsageError for a URL without a bucket or key, or when the credentials or the region are missing
 */
export function s3Location(arg: string, env: NodeJS.ProcessEnv = process.env): S3Location {
  const m = /^s3:\/\/([^/]+)\/(.+)$/i.exec(arg);
  if (!m) throw new UsageError(`${arg}: an s3 URL names a bucket and a key: s3://bucket/key`);
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new UsageError(
      `${arg}: s3 URLs need credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones); ` +
        'the store is AWS_ENDPOINT_URL (default AWS S3 in AWS_REGION)',
    );
  }
  const endpoint = env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined);
  if (!region) throw new UsageError(`${arg}: AWS S3 needs its region in AWS_REGION (or a store in AWS_ENDPOINT_URL)`);
  const sessionToken = env.AWS_SESSION_TOKEN;
  return {
    endpoint: endpoint ?? `https://s3.${region}.amazonaws.com`,
    bucket: m[1]!,
    key: m[2]!,
    region,
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    ...(endpoint ? {} : { virtualHosted: true }),
  };
}

/** An s3:// output of `vhdx convert`: the object, how it is uploaded, and the signal that aborts its upload (SIGINT). */
export interface S3Output {
  kind: 's3';
  /** What the user named it. */
  name: string;
  /** The object, with the checksum its upload asks of the store (--s3-checksum). */
  location: S3PartOptions;
  signal: AbortSignal;
}

/** An s3:// input as the URL inputs are read: the object's https URL and a fetch that signs. */
export function s3Input(arg: string): { url: string; fetch: typeof fetch; s3: S3Location } {
  const location = s3Location(arg);
  return { url: String(s3ObjectUrl(location)), fetch: s3Fetch(location), s3: location };
}

/**
 * Whether the object exists (a signed HEAD).
 * @throws VhdxError 'request-failed' when the store cannot be reached, 'http-status' for an answer but 200 or 404
 */
export async function s3ObjectExists(location: S3Location, name: string): Promise<boolean> {
  const res = await s3Fetch(location)(s3ObjectUrl(location), { method: 'HEAD' }).catch((err) => {
    throw asVhdxError(err, 'request-failed', `cannot reach ${name}`);
  });
  if (res.status === 404) return false;
  if (res.ok) return true;
  throw new VhdxError('http-status', `${name} answered ${res.status} ${res.statusText} to HEAD`);
}
