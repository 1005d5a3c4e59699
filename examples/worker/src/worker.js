// A Cloudflare Worker that converts a raw disk image to VHDX on the fly:
//   GET /?url=https://example.com/disk.raw   (or the SOURCE_URL variable)
// answers with the VHDX as a stream, with an exact Content-Length, without
// buffering the disk: the origin's body is piped through the encoder.
import { VhdxEncoderStream } from 'vhdx-stream';

const SECTOR = 512;

/** A plain-text error response; the message says what to fix. */
function fail(status, message) {
  return new Response(`${message}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/**
 * The disk size from the origin's Content-Length. A VHDX disk is a whole
 * number of 512-byte sectors, so a size in between is rounded up and the
 * tail padded with zeros; a missing or unusable length is an error, since
 * the encoder must know the size before the first byte goes out.
 */
function diskSize(headers) {
  if (headers.has('content-encoding') && headers.get('content-encoding') !== 'identity') {
    return { error: `the origin sent a ${headers.get('content-encoding')}-encoded body; its Content-Length is not the disk size` };
  }
  const header = headers.get('content-length');
  if (header === null) return { error: 'the origin sent no Content-Length, so the disk size is unknown (serve the raw image as a plain file)' };
  const length = Number(header);
  if (!/^\d+$/.test(header) || !Number.isSafeInteger(length) || length === 0) {
    return { error: `the origin's Content-Length (${header}) is not a usable disk size` };
  }
  return { length, virtualSize: Math.ceil(length / SECTOR) * SECTOR };
}

/** Appends `count` zero bytes after the stream's last chunk. */
function padWithZeros(count) {
  return new TransformStream({
    transform: (chunk, controller) => controller.enqueue(chunk),
    flush: (controller) => controller.enqueue(new Uint8Array(count)),
  });
}

export default {
  async fetch(request, env) {
    if (request.method !== 'GET') return fail(405, 'only GET is supported');
    const source = new URL(request.url).searchParams.get('url') || env.SOURCE_URL;
    if (!source) return fail(400, 'say which raw disk to convert: ?url=<address of the raw image>, or set SOURCE_URL');

    const origin = await fetch(source, { headers: { 'accept-encoding': 'identity' } });
    if (!origin.ok || !origin.body) return fail(502, `the origin answered ${origin.status} ${origin.statusText} for ${source}`);
    const size = diskSize(origin.headers);
    if (size.error) return fail(502, size.error);

    const encoder = new VhdxEncoderStream({ virtualSize: size.virtualSize });
    const raw = size.virtualSize === size.length ? origin.body : origin.body.pipeThrough(padWithZeros(size.virtualSize - size.length));
    // FixedLengthStream (a Workers global) makes the runtime send exactly
    // this Content-Length and error the response if the body disagrees.
    const body = raw.pipeThrough(encoder).pipeThrough(new FixedLengthStream(encoder.outputSize));
    return new Response(body, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(encoder.outputSize),
        'content-disposition': `attachment; filename="${vhdxName(source)}"`,
      },
    });
  },
};

/** `disk.raw` -> `disk.vhdx`, from the last path segment of the source address. */
function vhdxName(source) {
  const last = new URL(source).pathname.split('/').filter(Boolean).pop() ?? 'disk';
  const base = last.replace(/\.(raw|img|bin)$/i, '').replace(/[^\w.-]/g, '_') || 'disk';
  return `${base}.vhdx`;
}
