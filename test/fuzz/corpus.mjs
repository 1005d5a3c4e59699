// Valid images the fuzzer mutates: this project's own (dynamic, fixed, 4096
// sectors, BAT after the payload), a Hyper-V-like layout with blocks in
// reverse order, a dirty log, and a differencing child (with its parent in
// `parent`). `lib` is the library (src or dist).

import { collect } from '../helpers/collect.mjs';

const MiB = 1024 * 1024;

function rawImage(size, seed) {
  const raw = new Uint8Array(size);
  let x = seed;
  for (let mib = 0; mib * MiB < size; mib++) {
    if ((mib + seed) % 3 === 0) continue; // an all-zero MiB
    for (let i = mib * MiB; i < Math.min(size, mib * MiB + 64 * 1024); i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      raw[i] = x >>> 24;
    }
  }
  return raw;
}

function memoryTarget() {
  let file = new Uint8Array(0);
  return {
    get bytes() {
      return file;
    },
    write(data, position) {
      if (position + data.length > file.length) {
        const grown = new Uint8Array(position + data.length);
        grown.set(file);
        file = grown;
      }
      file.set(data, position);
    },
  };
}

/** Hyper-V's header section: identifier, two headers (log 1 MiB at 1 MiB), metadata at 2 MiB, a 1 MiB BAT at 3 MiB. */
function writeHeaderSection(format, file, creator, fileWriteGuid, dataWriteGuid) {
  file.set(format.serializeFileIdentifier({ creator }), 0);
  const header = (n) =>
    format.serializeHeader({
      sequenceNumber: n,
      fileWriteGuid,
      dataWriteGuid,
      logGuid: format.NIL_GUID,
      logVersion: 0,
      version: 1,
      logLength: MiB,
      logOffset: MiB,
    });
  file.set(header(1n), 64 * 1024);
  file.set(header(2n), 128 * 1024);
  const table = format.serializeRegionTable({
    entries: [
      { guid: format.GUIDS.metadataRegion, fileOffset: 2 * MiB, length: MiB, required: true },
      { guid: format.GUIDS.batRegion, fileOffset: 3 * MiB, length: MiB, required: true },
    ],
  });
  file.set(table, 192 * 1024);
  file.set(table, 256 * 1024);
}

/** Rewrites the region order to Hyper-V's and stores blocks in reverse. */
function hyperVLike(lib, raw) {
  const { format } = lib;
  const blockSize = MiB;
  const blocks = Math.ceil(raw.length / blockSize);
  const stored = [];
  for (let b = 0; b < blocks; b++) if (raw.subarray(b * blockSize, (b + 1) * blockSize).some((v) => v !== 0)) stored.push(b);
  stored.reverse();
  const file = new Uint8Array(4 * MiB + stored.length * blockSize);
  writeHeaderSection(format, file, 'fuzz corpus', '11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222');
  file.set(
    format.serializeMetadataRegion({
      fileParameters: { blockSize, leaveBlocksAllocated: false, hasParent: false },
      virtualDiskSize: raw.length,
      virtualDiskId: '33333333-3333-4333-8333-333333333333',
      logicalSectorSize: 512,
      physicalSectorSize: 4096,
    }),
    2 * MiB,
  );
  const ratio = format.chunkRatio(512, blockSize);
  const bat = file.subarray(3 * MiB, 4 * MiB);
  for (let b = 0; b < blocks; b++) format.writeBatEntry(bat, format.batIndexOfBlock(b, ratio), { state: 2, offsetMiB: 0 });
  stored.forEach((b, i) => {
    format.writeBatEntry(bat, format.batIndexOfBlock(b, ratio), { state: 6, offsetMiB: 4 + i });
    file.set(raw.subarray(b * blockSize, (b + 1) * blockSize), (4 + i) * MiB);
  });
  return file;
}

/** A dirty copy: two log entries that rewrite a payload sector and zero another. */
function dirty(lib, clean) {
  const { format } = lib;
  const file = clean.slice();
  const h = format.parseHeader(file.subarray(128 * 1024, 132 * 1024), 128 * 1024);
  const logGuid = '44444444-4444-4444-8444-444444444444';
  file.set(format.serializeHeader({ ...h, logGuid, sequenceNumber: h.sequenceNumber + 1n }), 64 * 1024);
  file.set(format.serializeHeader({ ...h, logGuid, sequenceNumber: h.sequenceNumber + 2n }), 128 * 1024);
  const target = file.length - MiB; // inside the last stored block
  const e1 = format.buildLogEntry({
    sequenceNumber: 5n,
    tail: 0,
    logGuid,
    flushedFileOffset: file.length,
    lastFileOffset: file.length,
    writes: [{ fileOffset: target, data: new Uint8Array(4096).fill(0x5a) }],
  });
  const e2 = format.buildLogEntry({
    sequenceNumber: 6n,
    tail: 0,
    logGuid,
    flushedFileOffset: file.length,
    lastFileOffset: file.length,
    writes: [{ fileOffset: target + 8192, zeroLength: 8192 }],
  });
  file.set(e1, h.logOffset);
  file.set(e2, h.logOffset + e1.length);
  return file;
}

/**
 * A differencing child of `parent` (whose disk is `raw.length` bytes): 1 MiB
 * blocks FULLY_PRESENT, PARTIALLY_PRESENT (every third sector), ZERO,
 * UNMAPPED, then NOT_PRESENT; its sector bitmap block after the payload.
 */
function differencingChild(lib, parent, raw) {
  const { format } = lib;
  const blockSize = MiB;
  const blocks = Math.ceil(raw.length / blockSize);
  const ratio = format.chunkRatio(512, blockSize);
  const h1 = format.parseHeader(parent.subarray(64 * 1024, 68 * 1024), 64 * 1024);
  const h2 = format.parseHeader(parent.subarray(128 * 1024, 132 * 1024), 128 * 1024);
  const linkage = (h2.sequenceNumber > h1.sequenceNumber ? h2 : h1).dataWriteGuid;
  const file = new Uint8Array(7 * MiB);
  writeHeaderSection(format, file, 'fuzz corpus child', '55555555-5555-4555-8555-555555555555', '66666666-6666-4666-8666-666666666666');
  const entries = { parent_linkage: `{${linkage}}`, relative_path: 'parent.vhdx', absolute_win32_path: '\\\\?\\C:\\vm\\parent.vhdx' };
  file.set(
    format.serializeMetadataRegion({
      fileParameters: { blockSize, leaveBlocksAllocated: false, hasParent: true },
      virtualDiskSize: raw.length,
      virtualDiskId: '77777777-7777-4777-8777-777777777777',
      logicalSectorSize: 512,
      physicalSectorSize: 4096,
      parentLocator: { locatorType: format.GUIDS.vhdxParentLocatorType, entries },
    }),
    2 * MiB,
  );
  const bat = file.subarray(3 * MiB, 4 * MiB);
  const states = [6, 7, 2, 3];
  for (let b = 0; b < Math.min(blocks, states.length); b++) {
    const present = states[b] >= 6;
    format.writeBatEntry(bat, format.batIndexOfBlock(b, ratio), { state: states[b], offsetMiB: present ? 4 + b : 0 });
    if (!present) continue;
    for (let i = 0; i < blockSize; i++) file[(4 + b) * MiB + i] = (i * 31 + b) & 0xff;
  }
  // the sector bitmap: block 0 whole, block 1 every third sector
  const bitmap = 6 * MiB;
  const sectors = blockSize / 512;
  for (let k = 0; k < 2 * sectors; k++) if (k < sectors || (k - sectors) % 3 === 0) file[bitmap + (k >> 3)] |= 1 << (k & 7);
  format.writeBatEntry(bat, ratio, { state: 6, offsetMiB: 6 });
  return file;
}

export async function buildCorpus(entry, format) {
  // the builders below take the library and its codecs as one object
  const lib = { ...entry, format };
  await lib.init();
  const raw = rawImage(3 * MiB + 4096, 1);
  const enc = (opts) =>
    collect(new Blob([raw]).stream().pipeThrough(new lib.VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB, ...opts })));
  const dynamic = await enc({ allocationMap: await lib.scanAllocation(raw, { blockSize: MiB }) });
  const target = memoryTarget();
  await new Blob([raw]).stream().pipeTo(new lib.VhdxWriterStream(target, { blockSize: 2 * MiB }));
  return [
    { name: 'dynamic (encoder, scanned map)', bytes: dynamic },
    { name: 'fixed', bytes: await enc({ type: 'fixed' }) },
    { name: '4096-byte sectors', bytes: await enc({ logicalSectorSize: 4096, physicalSectorSize: 4096 }) },
    { name: 'BAT after payload (positional writer)', bytes: target.bytes },
    { name: 'Hyper-V layout, blocks reversed', bytes: hyperVLike(lib, raw) },
    { name: 'dirty log', bytes: dirty(lib, dynamic) },
    { name: 'differencing child of the dynamic image', bytes: differencingChild(lib, dynamic, raw), parent: dynamic },
  ];
}
