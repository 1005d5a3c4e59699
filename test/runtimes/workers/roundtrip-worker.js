// A Worker that uses the package the way an application would: encode a raw
// disk made in memory, read the VHDX back through openVhdx (a Blob source)
// and through VhdxDecoderStream, and answer with what matched.
import { VhdxDecoderStream, VhdxEncoderStream, checkVhdx, crc32c, openVhdx } from 'vhdx-stream';

const MiB = 1024 * 1024;

function makeDisk(size) {
  const raw = new Uint8Array(size);
  let x = 0x9e3779b9;
  for (let mib = 0; mib * MiB < size; mib += 2) {
    const end = Math.min(size, mib * MiB + 300_000);
    for (let i = mib * MiB; i < end; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      raw[i] = x & 255;
    }
  }
  raw[size - 1] = 0x5a;
  return raw;
}

async function concat(stream) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function chunked(bytes, size) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

export default {
  async fetch() {
    const raw = makeDisk(5 * MiB + 3 * 512);
    const encoder = new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB });
    const vhdx = await concat(chunked(raw, 300_000).pipeThrough(encoder));
    const image = await openVhdx(new Blob([vhdx]));
    const read = await image.read(0, raw.length);
    const decoded = await concat(chunked(vhdx, 65_536).pipeThrough(new VhdxDecoderStream()));
    const report = await checkVhdx(new Blob([vhdx]));
    const result = {
      outputSize: encoder.outputSize === vhdx.length,
      openVhdx: read.length === raw.length && crc32c(read) === crc32c(raw),
      decoder: decoded.length === raw.length && crc32c(decoded) === crc32c(raw),
      check: report.ok,
      virtualSize: image.info.virtualSize,
    };
    return Response.json(result);
  },
};
