/** The raw exports of the AssemblyScript module (see assembly/index.ts). */
export interface KernelExports {
  readonly memory: WebAssembly.Memory;
  inPtr(): number;
  outPtr(): number;
  areaSize(): number;
  scratchPtr(): number;
  ensureScratch(bytes: number): number;
  crc32c(ptr: number, len: number, seed: number): number;
  isZero(ptr: number, len: number): number;
  sectorsDiffer(a: number, b: number, len: number, sector: number, out: number): number;
  batToBlocks(
    batPtr: number,
    entryCount: number,
    firstEntry: number,
    chunkRatio: number,
    statesOut: number,
    offsetsOut: number,
    allowPartial: number,
  ): number;
  blocksToRuns(statesPtr: number, offsetsPtr: number, count: number, blockMiB: number, runsOut: number): number;
  sortKeysByOffset(keysPtr: number, count: number, tmpPtr: number): void;
  logReassemble(descPtr: number, descCount: number, dataPtr: number, seqLo: number, seqHi: number, outPtr: number): number;
}
