export function buildCorpus(lib: typeof import('../../src/index.js')): Promise<{ name: string; bytes: Uint8Array }[]>;
