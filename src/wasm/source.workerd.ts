// workerd (Cloudflare Workers) forbids compiling WebAssembly from bytes; its
// bundlers turn a `.wasm` import into a compiled WebAssembly.Module instead.
// Chosen by the "workerd" condition of the package's "#wasm-source" import.
import plain from './vhdx.wasm';
import simd from './vhdx.simd.wasm';
import type { KernelSource } from './source-types.js';

export const kernelSource: KernelSource = { kind: 'modules', simd, plain };
