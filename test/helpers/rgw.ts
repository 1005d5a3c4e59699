// The S3 gateway the interop tests talk to (scripts/rgw.sh start prints the
// variables; .ci/run exports them): its address and keys from the
// environment, signed requests to it, and the multipart uploads left open.
import { EMPTY_SHA256, signRequest } from '../../src/sources/sigv4.js';

export const endpoint = process.env.AWS_ENDPOINT_URL;
export const credentials = {
  accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
};
export const region = process.env.AWS_REGION ?? 'us-east-1';

/** A request to the gateway signed with its keys (a body goes unsigned). */
export async function signed(method: string, path: string, body?: Uint8Array): Promise<Response> {
  const url = new URL(path, endpoint);
  const payloadHash = body ? 'UNSIGNED-PAYLOAD' : EMPTY_SHA256;
  const headers = await signRequest({ method, url, headers: {}, payloadHash, region, credentials });
  return fetch(url, { method, headers, ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}) });
}

/** The keys of the multipart uploads open in `bucket`. */
export async function openUploads(bucket: string): Promise<string[]> {
  const xml = await (await signed('GET', `/${bucket}?uploads`)).text();
  return [...xml.matchAll(/<Upload>[\s\S]*?<Key>([^<]*)<\/Key>[\s\S]*?<\/Upload>/g)].map((m) => m[1]!);
}

/**
 * Removes `bucket` with its objects and open uploads: the gateway's OSD keeps
 * everything in RAM, and a full one blocks every later write.
 */
export async function removeBucket(bucket: string): Promise<void> {
  for (;;) {
    const xml = await (await signed('GET', `/${bucket}?uploads`)).text();
    const uploads = [...xml.matchAll(/<Upload>[\s\S]*?<Key>([^<]*)<\/Key>[\s\S]*?<UploadId>([^<]*)<\/UploadId>/g)];
    for (const [, key, id] of uploads) await signed('DELETE', `/${bucket}/${key}?uploadId=${encodeURIComponent(id!)}`);
    const list = await (await signed('GET', `/${bucket}?list-type=2`)).text();
    const keys = [...list.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!);
    for (const key of keys) await signed('DELETE', `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`);
    if (uploads.length === 0 && keys.length === 0) break;
  }
  await signed('DELETE', `/${bucket}`);
}
