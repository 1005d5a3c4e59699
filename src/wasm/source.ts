// Most runtimes: the builds are inlined as base64 (see scripts/embed-wasm.mjs),
// so the library loads without bundler configuration or file access.
import { PLAIN_WASM_BASE64, SIMD_WASM_BASE64 } from './generated/wasm-bytes.js';
import type { KernelSource } from './source-types.js';

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let simd: Uint8Array<ArrayBuffer> | undefined;
let plain: Uint8Array<ArrayBuffer> | undefined;

export const kernelSource: KernelSource = {
  kind: 'bytes',
  simd: () => (simd ??= decodeBase64(SIMD_WASM_BASE64)),
  plain: () => (plain ??= decodeBase64(PLAIN_WASM_BASE64)),
};
