// Builds VHDX files with layouts the encoder never makes (Hyper-V's region
// order, blocks stored in reverse, unknown regions and items, damaged
// copies), straight from the structure codec.
import { dataView, writeU64 } from '../../src/format/bytes.js';
import { batEntryCount, batIndexOfBlock, chunkRatio, writeBatEntry } from '../../src/format/bat.js';
import { GUIDS, NIL_GUID, writeGuid } from '../../src/format/guid.js';
import { serializeHeader } from '../../src/format/header.js';
import { serializeFileIdentifier } from '../../src/format/identifier.js';
import { serializeMetadataRegion } from '../../src/format/metadata.js';
import { serializeRegionTable, type RegionEntry } from '../../src/format/region-table.js';

const MiB = 1024 * 1024;

export interface SyntheticOptions {
  raw: Uint8Array;
  blockSize?: number;
  lss?: 512 | 4096;
  pss?: 512 | 4096;
  /** 'hyperv': log @1, metadata @2, BAT @3, payload @4 MiB. 'bat-last': BAT after the payload. */
  layout?: 'hyperv' | 'bat-last';
  /** Order of stored blocks in the file. */
  order?: 'forward' | 'reverse';
  /** State for all-zero blocks: not stored, with this state (default 2 = ZERO). */
  zeroState?: number;
  equalSequence?: boolean;
  extraRegions?: RegionEntry[];
  extraMetadata?: { id: string; required: boolean; data: Uint8Array }[];
  fixed?: boolean;
  hasParent?: boolean;
  logGuid?: string;
}

export function buildSynthetic(o: SyntheticOptions): Uint8Array {
  const blockSize = o.blockSize ?? MiB;
  const lss = o.lss ?? 512;
  const pss = o.pss ?? 4096;
  const virtualSize = Math.ceil(o.raw.length / lss) * lss;
  const blocks = Math.ceil(virtualSize / blockSize);
  const ratio = chunkRatio(lss, blockSize);
  const entries = batEntryCount(blocks, ratio, !!o.hasParent);
  const batLength = Math.max(MiB, Math.ceil((entries * 8) / MiB) * MiB);
  const stored: number[] = [];
  for (let b = 0; b < blocks; b++) {
    if (o.raw.subarray(b * blockSize, (b + 1) * blockSize).some((x) => x !== 0)) stored.push(b);
  }
  if (o.order === 'reverse') stored.reverse();
  const metadataOffset = 2 * MiB;
  const payloadStart = o.layout === 'bat-last' ? 3 * MiB : 3 * MiB + batLength;
  const batOffset = o.layout === 'bat-last' ? payloadStart + stored.length * blockSize : 3 * MiB;
  const fileSize = Math.max(payloadStart + stored.length * blockSize, batOffset + batLength);
  const file = new Uint8Array(fileSize);

  file.set(serializeFileIdentifier({ creator: 'synthetic' }), 0);
  const header = (seq: bigint) =>
    serializeHeader({
      sequenceNumber: seq,
      fileWriteGuid: '0a0a0a0a-0000-4000-8000-000000000001',
      dataWriteGuid: '0a0a0a0a-0000-4000-8000-000000000002',
      logGuid: o.logGuid ?? NIL_GUID,
      logVersion: 0,
      version: 1,
      logLength: MiB,
      logOffset: MiB,
    });
  file.set(header(7n), 64 * 1024);
  file.set(header(o.equalSequence ? 7n : 8n), 128 * 1024);
  const regions = serializeRegionTable({
    entries: [
      { guid: GUIDS.metadataRegion, fileOffset: metadataOffset, length: MiB, required: true },
      { guid: GUIDS.batRegion, fileOffset: batOffset, length: batLength, required: true },
      ...(o.extraRegions ?? []),
    ],
  });
  file.set(regions, 192 * 1024);
  file.set(regions, 256 * 1024);

  const meta = serializeMetadataRegion({
    fileParameters: { blockSize, leaveBlocksAllocated: !!o.fixed, hasParent: !!o.hasParent },
    virtualDiskSize: virtualSize,
    virtualDiskId: '0a0a0a0a-0000-4000-8000-000000000003',
    logicalSectorSize: lss,
    physicalSectorSize: pss,
  });
  const mdv = dataView(meta);
  let count = mdv.getUint16(10, true);
  let free = 512 * 1024;
  for (const extra of o.extraMetadata ?? []) {
    const at = 32 + count * 32;
    writeGuid(meta, at, extra.id);
    mdv.setUint32(at + 16, free, true);
    mdv.setUint32(at + 20, extra.data.length, true);
    mdv.setUint32(at + 24, extra.required ? 4 : 0, true);
    meta.set(extra.data, free);
    free += Math.ceil(extra.data.length / 8) * 8;
    count++;
  }
  mdv.setUint16(10, count, true);
  file.set(meta, metadataOffset);

  const bat = new Uint8Array(batLength);
  for (let b = 0; b < blocks; b++) writeBatEntry(bat, batIndexOfBlock(b, ratio), { state: o.zeroState ?? 2, offsetMiB: 0 });
  stored.forEach((b, i) => {
    const off = payloadStart + i * blockSize;
    writeBatEntry(bat, batIndexOfBlock(b, ratio), { state: 6, offsetMiB: off / MiB });
    file.set(o.raw.subarray(b * blockSize, Math.min(o.raw.length, (b + 1) * blockSize)), off);
  });
  file.set(bat, batOffset);
  return file;
}

/** Rewrites a u64 field in place (tests that damage files). */
export function poke64(file: Uint8Array, at: number, value: number): void {
  writeU64(dataView(file), at, value);
}
