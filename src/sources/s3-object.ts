// Where an S3 object lives and how a request to it is signed: the object's
// URL (path style against an endpoint, or virtual-host style), a fetch that
// signs every request it sends with SigV4, and a random-access source that
// reads the object by signed Range GETs (so openVhdx, checkVhdx and
// scanAllocation read objects in a private bucket as they read any URL).
import { httpSource, type HttpSourceOptions } from './http.js';
import { EMPTY_SHA256, signRequest, uriEncode, type AwsCredentials } from './sigv4.js';
import type { ReadableFile } from './types.js';

/** Where an object is and how to reach the store. */
export interface S3Location {
  /** The store's endpoint, e.g. `https://s3.eu-west-1.amazonaws.com`, `https://<account>.r2.cloudflarestorage.com`, `http://127.0.0.1:7480`. */
  endpoint: string;
  bucket: string;
  key: string;
  /** Signing region (`auto` for R2; anything the store accepts for Ceph RGW and MinIO). */
  region: string;
  credentials: AwsCredentials;
  /** `bucket.endpoint/key` instead of `endpoint/bucket/key` (default false: path style, which every S3-compatible store takes). */
  virtualHosted?: boolean;
}

/**
 * The URL of the object `location` names (its key percent-encoded as SigV4 signs it).
 * @throws TypeError (from `URL`) for an endpoint that is not a URL.
 */
export function s3ObjectUrl(location: Omit<S3Location, 'region' | 'credentials'>): URL {
  const url = new URL(location.endpoint);
  const key = uriEncode(location.key, true);
  const bucket = uriEncode(location.bucket);
  if (location.virtualHosted) {
    url.host = `${bucket}.${url.host}`;
    url.pathname = `/${key}`;
  } else url.pathname = `${url.pathname.replace(/\/$/, '')}/${bucket}/${key}`;
  return url;
}

/**
 * A fetch that signs each request it sends (SigV4, header-based) for `region` and `credentials`.
 * For requests without a body (GET, HEAD, DELETE): bodies are sent unsigned (`UNSIGNED-PAYLOAD`).
 * @throws what `doFetch` throws, from the fetch it returns.
 */
export function s3Fetch(signing: Pick<S3Location, 'region' | 'credentials'>, doFetch: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init.method ?? (input instanceof Request ? input.method : 'GET');
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const payloadHash = init.body === undefined || init.body === null ? EMPTY_SHA256 : 'UNSIGNED-PAYLOAD';
    const signed = await signRequest({ method, url, headers, payloadHash, region: signing.region, credentials: signing.credentials });
    return doFetch(url, { ...init, method, headers: signed });
  };
}

/**
 * The object `location` names as a random-access source: signed Range GETs
 * (see {@link httpSource}), the size from a one-byte probe.
 * @throws VhdxError as {@link httpSource} (`IO` `request-failed`, `http-status`; `range-not-supported`).
 */
export function s3Source(location: S3Location, options: HttpSourceOptions = {}): Promise<ReadableFile> {
  return httpSource(String(s3ObjectUrl(location)), { ...options, fetch: s3Fetch(location, options.fetch) });
}
