// One shared module instance per process (or worker). Kernels are called
// synchronously between copy-in and copy-out, so any number of concurrent
// streams can use it without locking.
import { VhdxError } from '../errors.js';
import type { KernelExports } from './exports.js';
import { kernelSource } from '#wasm-source';

/** A compiled module, or the bytes of one. */
export type ModuleOrBytes = WebAssembly.Module | BufferSource;

/** The loaded kernels with cached views over their memory. */
export interface Kernels {
  readonly exports: KernelExports;
  readonly inPtr: number;
  readonly outPtr: number;
  readonly areaSize: number;
  /** Which build is running. */
  readonly simd: boolean;
  /** A byte view of the module memory, re-created when memory grows. */
  bytes(): Uint8Array;
}

let loaded: Kernels | undefined;
let pending: Promise<Kernels> | undefined;

function wrap(instance: WebAssembly.Instance, simd: boolean): Kernels {
  const exports = instance.exports as unknown as KernelExports;
  let view = new Uint8Array(exports.memory.buffer);
  return {
    exports,
    inPtr: exports.inPtr(),
    outPtr: exports.outPtr(),
    areaSize: exports.areaSize(),
    simd,
    bytes() {
      if (view.buffer !== exports.memory.buffer) view = new Uint8Array(exports.memory.buffer);
      return view;
    },
  };
}

function fromModule(module: WebAssembly.Module, simd: boolean): Kernels {
  return wrap(new WebAssembly.Instance(module, {}), simd);
}

/**
 * Loads the kernels from a module or its bytes you supply (escape hatch for
 * runtimes with unusual loading rules). Without an argument, loads the built-in
 * module asynchronously. Idempotent: later calls return the same instance.
 * @throws VhdxError `wasm-unavailable` (UNSUPPORTED) when the runtime refuses to compile the built-in bytes
 */
export async function init(moduleOrBytes?: ModuleOrBytes): Promise<void> {
  if (loaded) return;
  if (moduleOrBytes !== undefined) {
    const module = moduleOrBytes instanceof WebAssembly.Module ? moduleOrBytes : await WebAssembly.compile(moduleOrBytes);
    // Which build a caller hands us is only diagnostic, so it is not probed.
    loaded = wrap(await WebAssembly.instantiate(module, {}), false);
    return;
  }
  await ready();
}

/**
 * Resolves when the shared instance is ready; starts loading on first call.
 * Rejects with VhdxError `wasm-unavailable` (UNSUPPORTED) where the runtime
 * refuses to compile the inlined bytes (Workers bundled without `workerd`).
 */
export function ready(): Promise<Kernels> {
  if (loaded) return Promise.resolve(loaded);
  pending ??= (async () => {
    // modules handed over by the runtime instantiate synchronously anyway
    if (kernelSource.kind === 'modules') {
      loaded ??= syncLoad();
      return loaded;
    }
    const simd = WebAssembly.validate(kernelSource.simd());
    try {
      const { instance } = await WebAssembly.instantiate(simd ? kernelSource.simd() : kernelSource.plain(), {});
      loaded ??= wrap(instance, simd);
      return loaded;
    } catch (err) {
      // Cloudflare Workers refuse to compile bytes at run time; the bundle
      // missed the condition that imports the .wasm files as modules instead
      throw new VhdxError(
        'wasm-unavailable',
        "this runtime refused to compile the WebAssembly kernels from bytes; in Cloudflare Workers bundle with the 'workerd' " +
          'condition (wrangler does) so they load as .wasm modules, or pass a compiled WebAssembly.Module to init()',
        { cause: err },
      );
    }
  })();
  return pending;
}

function syncLoad(): Kernels {
  if (kernelSource.kind === 'modules') {
    try {
      return fromModule(kernelSource.simd, true);
    } catch {
      // a runtime without SIMD: fall through to the plain build
    }
    return fromModule(kernelSource.plain, false);
  }
  const simd = WebAssembly.validate(kernelSource.simd());
  try {
    return fromModule(new WebAssembly.Module(simd ? kernelSource.simd() : kernelSource.plain()), simd);
  } catch (err) {
    // Chrome before 2023 refuses to compile more than 4 KiB synchronously on
    // the main thread; the SIMD build is larger, the plain build is not.
    if (!simd) throw err;
    return fromModule(new WebAssembly.Module(kernelSource.plain()), false);
  }
}

/**
 * The shared kernels, loading them synchronously if nobody awaited `ready()`
 * yet. Where a browser refuses the SIMD build synchronously, the plain build
 * (under 4 KiB, the smallest limit any browser sets) is used instead.
 * @throws VhdxError `wasm-unavailable` when the runtime refuses to compile or instantiate the module.
 */
export function kernels(): Kernels {
  if (loaded) return loaded;
  try {
    loaded = syncLoad();
  } catch (err) {
    throw new VhdxError('wasm-unavailable', 'could not instantiate the WebAssembly kernels; call init() first', {
      cause: err,
    });
  }
  return loaded;
}
