export function rng(seed: number): () => number;
export function mutate(original: Uint8Array, seed: number, crc32c: (data: Uint8Array) => number): { file: Uint8Array; description: string };
export function fixChecksums(file: Uint8Array, crc32c: (data: Uint8Array) => number): void;
