// The structure codec: pure parse/serialize functions over Uint8Array.
export * from './bytes.js';
export * from './guid.js';
export * from './identifier.js';
export * from './header.js';
export * from './region-table.js';
export * from './metadata.js';
export * from './bat.js';
export * from './log.js';
export { checksumWithHole, storeChecksum } from './checksum.js';
