// Entry for Cloudflare Workers and other workerd runtimes, picked by the
// "workerd" export condition: they forbid compiling WebAssembly from bytes,
// so the modules are imported as files and handed to the loader.
import plain from './wasm/vhdx.wasm';
import simd from './wasm/vhdx.simd.wasm';
import { provideModules } from './wasm/instance.js';

provideModules({ plain, simd });

export * from './index.js';
