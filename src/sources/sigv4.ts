// AWS Signature Version 4 for S3 requests, on WebCrypto (crypto.subtle:
// SHA-256 and HMAC-SHA256), so it runs unchanged in Node, Workers, Deno, Bun
// and browsers. Header-based signing only (no presigning, no chunked
// streaming signatures): the bodies this library sends are either small XML
// or parts whose integrity the CRC-32C checksum header carries.

/** Credentials as the standard AWS environment variables hold them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** For temporary credentials (`AWS_SESSION_TOKEN`). */
  sessionToken?: string;
}

/** One request to sign. */
export interface SigningRequest {
  method: string;
  url: URL;
  /** Headers to send and sign (names in any case); `host` is added from the URL. */
  headers: Record<string, string>;
  /** Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`. */
  payloadHash: string;
  region: string;
  credentials: AwsCredentials;
  /** Signing time (default now). */
  date?: Date;
  /** Default `s3`. */
  service?: string;
}

/** SHA-256 of nothing: the payload hash of a request without a body. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const encoder = new TextEncoder();

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Hex SHA-256 of `data`.
 * @throws whatever `crypto.subtle.digest` throws (a runtime without WebCrypto).
 */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  return hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

async function hmac(key: ArrayBuffer | Uint8Array, text: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, encoder.encode(text));
}

/** RFC 3986 percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ (and `/` when `keepSlash`). */
export function uriEncode(text: string, keepSlash = false): string {
  return Array.from(encoder.encode(text), (b) => {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) return c;
    return `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

function canonicalQuery(url: URL): string {
  const pairs = [...url.searchParams].map(([k, v]) => [uriEncode(k), uriEncode(v)] as const);
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** `YYYYMMDDTHHMMSSZ`. */
function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/**
 * Signs a request: returns the headers to send, its own plus `x-amz-date`,
 * `x-amz-content-sha256`, `x-amz-security-token` (with a session token) and
 * `authorization`. The URL's path must already be percent-encoded as sent
 * (S3 signs it as is, without encoding it twice).
 * @throws whatever `crypto.subtle` throws (a runtime without WebCrypto).
 */
export async function signRequest(request: SigningRequest): Promise<Record<string, string>> {
  const { method, url, payloadHash, region, credentials } = request;
  const service = request.service ?? 's3';
  const stamp = amzDate(request.date ?? new Date());
  const day = stamp.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  headers['x-amz-date'] = stamp;
  headers['x-amz-content-sha256'] = payloadHash;
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  const signed: Record<string, string> = { ...headers, host: url.host };
  const names = Object.keys(signed).sort();
  const canonical = [
    method.toUpperCase(),
    url.pathname || '/',
    canonicalQuery(url),
    ...names.map((n) => `${n}:${signed[n]!.trim().replace(/\s+/g, ' ')}`),
    '',
    names.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, await sha256Hex(canonical)].join('\n');
  let key = await hmac(encoder.encode(`AWS4${credentials.secretAccessKey}`), day);
  for (const part of [region, service, 'aws4_request']) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope},SignedHeaders=${names.join(';')},Signature=${signature}`;
  return headers;
}
