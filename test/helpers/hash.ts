import { createHash } from 'node:crypto';

/** SHA-256 and length of everything a stream produces, without holding it. */
export async function hashStream(stream: ReadableStream<Uint8Array>): Promise<{ sha256: string; length: number }> {
  const h = createHash('sha256');
  let length = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    h.update(chunk);
    length += chunk.length;
  }
  return { sha256: h.digest('hex'), length };
}
