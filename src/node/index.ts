/**
 * Node-only helpers: fast file-to-file conversion with pipelined I/O.
 * @packageDocumentation
 */
export { convertRawFileToVhdx, convertVhdxFileToRaw } from './convert.js';
export type { FileConvertOptions } from './convert.js';
