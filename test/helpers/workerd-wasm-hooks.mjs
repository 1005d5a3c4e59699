// Module hooks for workerd-like.mjs: a `.wasm` import becomes a module whose
// default export is the compiled WebAssembly.Module, as in workerd. The same
// function serves module.registerHooks (synchronous, Node 22.15+; Node 26
// deprecates module.register) and module.register (Node 20).
export function load(url, context, nextLoad) {
  if (!url.endsWith('.wasm')) return nextLoad(url, context);
  return {
    format: 'module',
    shortCircuit: true,
    source:
      `import { readFileSync } from 'node:fs';\n` +
      `export default globalThis[Symbol.for('vhdx-stream.test.wasmModule')](readFileSync(new URL(${JSON.stringify(url)})));\n`,
  };
}
