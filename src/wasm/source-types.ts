// Where the compiled kernels come from. Each runtime gets its own module
// through the package's "#wasm-source" import (see package.json "imports"),
// chosen by export conditions at resolve time: nothing registers itself at
// run time, so a bundler that drops side-effect-free code cannot lose it.

/** The two builds, as bytes to compile or as modules a runtime compiled for us. */
export type KernelSource =
  | { readonly kind: 'bytes'; simd(): Uint8Array<ArrayBuffer>; plain(): Uint8Array<ArrayBuffer> }
  | { readonly kind: 'modules'; readonly simd: WebAssembly.Module; readonly plain: WebAssembly.Module };
