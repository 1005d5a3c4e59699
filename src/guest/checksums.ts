// The checksums filesystems and partition tables inside a disk use. GPT
// uses CRC-32 (the zlib/IEEE polynomial), not the CRC-32C of VHDX and ext4;
// ext4 group descriptors without metadata_csum use CRC-16 (polynomial 0x8005,
// bit-reflected, no final inversion).
import { crc32c } from '../wasm/kernels.js';

function reflectedTable(poly: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

let crc32Table: Uint32Array | undefined;
let crc16Table: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib computes it) of `data`; GPT headers and entry arrays store it. */
export function crc32(data: Uint8Array): number {
  crc32Table ??= reflectedTable(0xedb88320);
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crc32Table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Continues a CRC-16 (reflected 0x8005, as ext4's gdt_csum uses it) from `crc` over `data`. */
export function crc16(crc: number, data: Uint8Array): number {
  crc16Table ??= reflectedTable(0xa001);
  let c = crc & 0xffff;
  for (let i = 0; i < data.length; i++) c = (crc16Table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) & 0xffff;
  return c;
}

/**
 * Continues ext4's CRC-32C from `crc` over `data`: the register as it stands,
 * with no inversion before or after (ext4 seeds it with ~0 and stores it as it ends).
 */
export function ext4Crc32c(crc: number, data: Uint8Array): number {
  return ~crc32c(data, ~crc >>> 0) >>> 0;
}
