/**
 * vhdx-stream: raw disk images to Microsoft VHDX and back, as WHATWG streams.
 *
 * This entry runs in every runtime (browsers, Workers, Deno, Bun, Node) and
 * imports nothing from `node:`. In Node, `vhdx-stream/node` adds file paths,
 * FileHandles and file-to-file converters; the on-disk structure codecs are
 * in `vhdx-stream/format`.
 * @packageDocumentation
 */
export { VhdxError } from './errors.js';
export type { VhdxErrorCode, VhdxErrorReason, VhdxErrorLocation, VhdxStructure, VhdxErrorFile, LinkageMismatch } from './errors.js';
export { init } from './wasm/instance.js';
export type { ModuleOrBytes } from './wasm/instance.js';
export { crc32c, isAllZero } from './wasm/kernels.js';
export { combineCrc32c, crc32cCombine, crc32cBase64, crc32cFromBase64 } from './wasm/crc-combine.js';
export type { Crc32cPart } from './wasm/crc-combine.js';

export { VhdxEncoderStream } from './streams/encoder.js';
export type { VhdxEncoderOptions, EncoderLayoutInfo } from './streams/encoder.js';
export { MULTIPART_LIMITS, planVhdx, renderVhdxPart, uploadVhdxPlan, vhdxPartRange } from './streams/parts.js';
export type { RawReader, VhdxPart, VhdxPlan, VhdxPlanOptions, VhdxPlanUploadOptions } from './streams/parts.js';
export { VhdxWriterStream } from './streams/writer.js';
export type { VhdxWriterOptions, VhdxWriteSummary, ChildBlockCounts } from './streams/writer.js';
export type { PositionalTarget, TargetInput } from './sources/targets.js';
export type { ChildWriterOptions } from './streams/child-writer.js';
export type { SparseSummary } from './layout/sparse.js';
export { abortS3Upload, completeS3Upload, createS3Upload, uploadS3Part, uploadS3Parts, uploadToS3 } from './sources/s3.js';
export { s3Fetch, s3ObjectUrl, s3Source } from './sources/s3-object.js';
export type { S3Location, S3PartOptions, S3PartsOptions, S3UploadedPart, S3UploadOptions, S3UploadResult } from './sources/s3.js';
export { signRequest } from './sources/sigv4.js';
export type { AwsCredentials, SigningRequest } from './sources/sigv4.js';
export { scanAllocation } from './sources/scan.js';
export type { AllocationMap, ScanOptions } from './sources/scan.js';
export type { VhdxCreateOptions } from './layout/options.js';

export { VhdxDecoderStream } from './streams/decoder.js';
export type { VhdxDecoderOptions } from './streams/decoder.js';
export { VhdxImage } from './image/image.js';
export { checkVhdx } from './image/open.js';
export { openVhdx, repairVhdx } from './open.js';
export type { RepairAction, RepairReport } from './edit/open.js';
export type { OpenVhdxOptions, ChainOptions, CheckReport, VirtualRange } from './image/image.js';
export type { VhdxInfo, ChainLevel, LogInfo, RegionInfo, Extent, Problem } from './image/types.js';
export type { ParentRequest } from './sources/parent.js';
export type { ReadLimits } from './image/limits.js';
export type { RandomAccessSource, SourceInput, HttpSourceOptions } from './sources/index.js';
export type { ReadableFile, WritableFile, RandomAccessFile, CustomFile, SyncAccessHandleLike, HoleMap } from './sources/types.js';
export type { WritableFileInput } from './sources/writable.js';
export { compactVhdx, resizeVhdx, setParent } from './edit/inplace.js';
export { findUnusedRanges } from './guest/index.js';
export type { ReadFunction } from './guest/read.js';
export type {
  DiskRange,
  FilesystemKind,
  GuestOptions,
  GuestPartition,
  GuestRefusal,
  GuestReport,
  GuestVerdict,
  PartitionTable,
  RefusedVerdict,
  SkippedVerdict,
  TrimmedVerdict,
} from './guest/types.js';
export type { SetParentOptions, SetParentResult, ParentPaths } from './edit/parent.js';
export type { ResizeOptions, ResizeResult } from './edit/resize.js';
export type { CompactOptions, CompactResult } from './edit/compact.js';
