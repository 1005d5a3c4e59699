/**
 * vhdx-stream: raw disk images to Microsoft VHDX and back, as WHATWG streams.
 * @packageDocumentation
 */
export { VhdxError } from './errors.js';
export type { VhdxErrorCode, VhdxErrorLocation } from './errors.js';
export { init } from './wasm/instance.js';
export type { ModuleOrBytes } from './wasm/instance.js';
export { crc32c, isAllZero } from './wasm/kernels.js';

export { VhdxEncoderStream } from './streams/encoder.js';
export type { VhdxEncoderOptions, EncoderLayoutInfo } from './streams/encoder.js';
export { VhdxWriterStream } from './streams/writer.js';
export type { VhdxWriterOptions, VhdxWriteSummary } from './streams/writer.js';
export type { PositionalTarget, TargetInput, SyncAccessHandleLike } from './streams/targets.js';
export { scanAllocation } from './layout/allocation.js';
export type { AllocationMap, ScanOptions } from './layout/allocation.js';
export type { VhdxCreateOptions } from './layout/options.js';

export { openSource, memorySource, blobSource, httpSource } from './sources/index.js';
export type { RandomAccessSource, SourceInput, HttpSourceOptions } from './sources/index.js';

export * as format from './format/index.js';
