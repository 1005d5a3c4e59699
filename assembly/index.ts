export { inPtr, outPtr, areaSize, scratchPtr, ensureScratch } from "./memory";
export { crc32c } from "./crc32c";
export { isZero } from "./zero";
export { sectorsDiffer } from "./compare";
export { batToBlocks, blocksToRuns, sortKeysByOffset } from "./bat";
export { logReassemble } from "./log";
