/**
 * `vhdx-stream/format`: the on-disk structure codecs, pure functions over
 * bytes (parse(bytes) -> value, serialize(value) -> bytes), for tools that
 * inspect or build VHDX structures themselves. Parsers throw `VhdxError`
 * with the reason and the file offset of the field at fault.
 * @packageDocumentation
 */
export * from './guid.js';
export * from './identifier.js';
export * from './header.js';
export * from './region-table.js';
export * from './metadata.js';
export * from './bat.js';
export * from './log.js';
export { checksumWithHole, storeChecksum } from './checksum.js';
