export function buildCorpus(
  lib: typeof import('../../src/index.js'),
  format: typeof import('../../src/format/index.js'),
): Promise<{ name: string; bytes: Uint8Array; parent?: Uint8Array }[]>;
