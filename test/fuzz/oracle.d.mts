export function runCase(
  lib: typeof import('../../src/index.js'),
  bytes: Uint8Array,
  options?: { cap?: number; timeoutMs?: number; options?: Record<string, unknown>; parent?: Uint8Array; write?: boolean },
): Promise<string | undefined>;
