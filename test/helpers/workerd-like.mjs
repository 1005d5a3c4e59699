// Preload (`node --import`) that makes Node behave like workerd for this
// package's purposes: `.wasm` imports yield compiled WebAssembly.Module
// objects, and compiling WebAssembly from bytes at run time is refused.
import { register } from 'node:module';

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

register('./workerd-wasm-hooks.mjs', import.meta.url);
