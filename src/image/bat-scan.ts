// Re-exports of the BAT kernels the loader uses, plus a raw-entry reader for
// error messages.
export { decodeBat, fileOrder, blockRuns } from '../wasm/kernels.js';
export { readBatEntry as readBatEntryFromRaw } from '../format/bat.js';
