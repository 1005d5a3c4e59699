// Run by Deno and Bun against the built package, installed the way a user
// installs it (node_modules/vhdx-stream): converts <dir>/disk.raw with the
// default entry from bytes and from a Blob, and with the Node entry from
// paths, writing every result into <dir>/<runtime>-*.{vhdx,raw} for the test
// to compare; prints a JSON summary on stdout.
//   deno run -A roundtrip-script.js <dir>      bun roundtrip-script.js <dir>
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VhdxDecoderStream, VhdxEncoderStream, openVhdx, scanAllocation } from 'vhdx-stream';
import { convertRawFileToVhdx, convertVhdxFileToRaw, checkVhdx } from 'vhdx-stream/node';

const dir = (globalThis.Deno?.args ?? process.argv.slice(2))[0];
const runtime = globalThis.Deno ? 'deno' : globalThis.Bun ? 'bun' : 'node';
const MiB = 1024 * 1024;
const out = (name) => join(dir, `${runtime}-${name}`);

function chunks(bytes, size) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(at, Math.min(bytes.length, at + size)));
      at += size;
    },
  });
}

async function concat(stream) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    whole.set(p, at);
    at += p.length;
  }
  return whole;
}

const raw = new Uint8Array(readFileSync(join(dir, 'disk.raw')));
const virtualSize = Math.ceil(raw.length / 512) * 512;
// the disk is whole sectors: the file paths round up the same way
const padded = new Uint8Array(virtualSize);
padded.set(raw);

// bytes: raw -> VHDX -> raw through the two transform streams
const encoder = new VhdxEncoderStream({ virtualSize, blockSize: MiB });
const vhdx = await concat(chunks(padded, 200_000).pipeThrough(encoder));
writeFileSync(out('bytes.vhdx'), vhdx);
writeFileSync(out('bytes.raw'), await concat(chunks(vhdx, 65_536).pipeThrough(new VhdxDecoderStream())));

// Blob: a sparse VHDX from a scanned map, read back by random access
const map = await scanAllocation(new Blob([padded]), { blockSize: MiB });
const sparse = await concat(chunks(padded, MiB).pipeThrough(new VhdxEncoderStream({ allocationMap: map })));
writeFileSync(out('blob.vhdx'), sparse);
const image = await openVhdx(new Blob([sparse]));
writeFileSync(out('blob.raw'), await image.read(0, image.info.virtualSize));

// paths, through the Node entry (Deno and Bun provide node:fs)
await convertRawFileToVhdx(join(dir, 'disk.raw'), out('path.vhdx'));
await convertVhdxFileToRaw(out('path.vhdx'), out('path.raw'));
const report = await checkVhdx(out('path.vhdx'));

console.log(
  JSON.stringify({
    runtime,
    outputSize: encoder.outputSize === vhdx.length,
    presentBlocks: map.present.reduce((n, p) => n + p, 0),
    blockCount: map.present.length,
    check: report.ok,
  }),
);
