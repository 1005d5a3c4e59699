// Preload (`node --import`) that makes Node behave like workerd for this
// package's purposes: `.wasm` imports yield compiled WebAssembly.Module
// objects, and compiling WebAssembly from bytes at run time is refused.
import * as nodeModule from 'node:module';
import { load } from './workerd-wasm-hooks.mjs';

const Module = WebAssembly.Module;
globalThis[Symbol.for('vhdx-stream.test.wasmModule')] = (bytes) => new Module(bytes);

const refuse = () => {
  throw new WebAssembly.CompileError('Wasm code generation disallowed by embedder');
};
/** @type {any} */ (WebAssembly).Module = () => {
  refuse();
};
WebAssembly.compile = async () => refuse();
const instantiate = WebAssembly.instantiate;
/** @type {any} */ (WebAssembly).instantiate = (source, imports) => (source instanceof Module ? instantiate(source, imports) : refuse());
WebAssembly.compileStreaming = WebAssembly.instantiateStreaming = async () => refuse();

// registerHooks where Node has it (Node 26 warns that register is deprecated), register before
/** @type {{ registerHooks?: (hooks: { load: typeof load }) => void }} */
const hooksApi = /** @type {any} */ (nodeModule);
if (typeof hooksApi.registerHooks === 'function') hooksApi.registerHooks({ load });
else nodeModule.register('./workerd-wasm-hooks.mjs', import.meta.url);
