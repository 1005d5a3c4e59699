// One shared module instance per process (or worker). Kernels are called
// synchronously between copy-in and copy-out, so any number of concurrent
// streams can use it without locking.
import { VhdxError } from '../errors.js';
import type { KernelExports } from './exports.js';
import { PLAIN_WASM_BASE64, SIMD_WASM_BASE64 } from './generated/wasm-bytes.js';

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
let preferred: { plain?: WebAssembly.Module; simd?: WebAssembly.Module } | undefined;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let simdBytes: Uint8Array<ArrayBuffer> | undefined;
let plainBytes: Uint8Array<ArrayBuffer> | undefined;

function inlineBytes(): { bytes: Uint8Array<ArrayBuffer>; simd: boolean } {
  simdBytes ??= decodeBase64(SIMD_WASM_BASE64);
  if (WebAssembly.validate(simdBytes)) return { bytes: simdBytes, simd: true };
  plainBytes ??= decodeBase64(PLAIN_WASM_BASE64);
  return { bytes: plainBytes, simd: false };
}

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
 * Supplies pre-compiled modules (used by the `workerd` entry, where compiling
 * from bytes is forbidden). Must run before the first kernel call.
 */
export function provideModules(modules: { plain?: WebAssembly.Module; simd?: WebAssembly.Module }): void {
  preferred = modules;
}

/**
 * Loads the kernels from a module or its bytes you supply (escape hatch for
 * runtimes with unusual loading rules). Without an argument, loads the built-in
 * module asynchronously. Idempotent: later calls return the same instance.
 */
export async function init(moduleOrBytes?: ModuleOrBytes): Promise<void> {
  if (loaded) return;
  if (moduleOrBytes !== undefined) {
    const module =
      moduleOrBytes instanceof WebAssembly.Module ? moduleOrBytes : await WebAssembly.compile(moduleOrBytes);
    // Which build a caller hands us is only diagnostic, so it is not probed.
    loaded = wrap(await WebAssembly.instantiate(module, {}), false);
    return;
  }
  await ready();
}

/** Resolves when the shared instance is ready; starts loading on first call. */
export function ready(): Promise<Kernels> {
  if (loaded) return Promise.resolve(loaded);
  pending ??= (async () => {
    if (preferred?.simd || preferred?.plain) return (loaded ??= syncLoad());
    const { bytes, simd } = inlineBytes();
    const { instance } = await WebAssembly.instantiate(bytes, {});
    return (loaded ??= wrap(instance, simd));
  })();
  return pending;
}

function syncLoad(): Kernels {
  if (preferred?.simd) {
    try {
      return fromModule(preferred.simd, true);
    } catch {
      // fall through to the plain build
    }
  }
  if (preferred?.plain) return fromModule(preferred.plain, false);
  const { bytes, simd } = inlineBytes();
  try {
    return fromModule(new WebAssembly.Module(bytes), simd);
  } catch (err) {
    // Chrome before 2023 refuses to compile more than 4 KiB synchronously on
    // the main thread; the SIMD build is larger, the plain build is not.
    if (!simd) throw err;
    plainBytes ??= decodeBase64(PLAIN_WASM_BASE64);
    return fromModule(new WebAssembly.Module(plainBytes), false);
  }
}

/**
 * The shared kernels, loading them synchronously if nobody awaited `ready()`
 * yet. Where a browser refuses the SIMD build synchronously, the plain build
 * (under 4 KiB, the smallest limit any browser sets) is used instead.
 */
export function kernels(): Kernels {
  if (loaded) return loaded;
  try {
    loaded = syncLoad();
  } catch (err) {
    throw new VhdxError('UNSUPPORTED', 'could not instantiate the WebAssembly kernels; call init() first', {
      cause: err,
    });
  }
  return loaded;
}
