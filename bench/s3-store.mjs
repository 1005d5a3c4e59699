// The store `npm run bench s3` talks to: the object `key` of `bucket` as the
// AWS_* variables scripts/rgw.sh prints say (path style against AWS_ENDPOINT_URL).

/**
 * @param {string} bucket
 * @param {string} key
 * @returns {import('../dist/index.js').S3Location}
 */
export function storeLocation(bucket, key) {
  const env = process.env;
  return {
    endpoint: env.AWS_ENDPOINT_URL ?? '',
    region: env.AWS_REGION ?? 'us-east-1',
    bucket,
    key,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '' },
  };
}
