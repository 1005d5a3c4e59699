/**
 * vhdx-stream: raw disk images to Microsoft VHDX and back, as WHATWG streams.
 * @packageDocumentation
 */
export { VhdxError } from './errors.js';
export type { VhdxErrorCode, VhdxErrorLocation } from './errors.js';
export { init } from './wasm/instance.js';
export type { ModuleOrBytes } from './wasm/instance.js';
export { crc32c, isAllZero } from './wasm/kernels.js';
export * as format from './format/index.js';
