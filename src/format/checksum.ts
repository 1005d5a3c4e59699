// Every checksummed VHDX structure stores a CRC-32C over its whole extent
// with the 4-byte checksum field taken as zero.
import { crc32c } from '../wasm/kernels.js';

const ZERO4 = new Uint8Array(4);

/**
 * CRC-32C of `b` with bytes [at, at+4) read as zero, as every checksummed VHDX
 * structure stores it (MS-VHDX 2.2.2, 2.2.3.1, 2.3.1.1).
 * @throws VhdxError `UNSUPPORTED` (`wasm-unavailable`) when the WebAssembly kernels cannot be loaded.
 */
export function checksumWithHole(b: Uint8Array, at: number): number {
  let crc = crc32c(b.subarray(0, at));
  crc = crc32c(ZERO4, crc);
  return crc32c(b.subarray(at + 4), crc);
}

/**
 * Computes {@link checksumWithHole} of `b` and stores it little-endian at `at`,
 * the last step of serializing a checksummed structure.
 * @throws VhdxError `UNSUPPORTED` (`wasm-unavailable`) when the WebAssembly kernels cannot be loaded.
 */
export function storeChecksum(b: Uint8Array, at: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, checksumWithHole(b, at), true);
}
