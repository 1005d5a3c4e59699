// The workerd entry imports the .wasm files themselves (Workers cannot
// compile from bytes), so they ship next to the compiled JS.
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('dist/wasm', { recursive: true });
copyFileSync('build/vhdx.wasm', 'dist/wasm/vhdx.wasm');
copyFileSync('build/vhdx.simd.wasm', 'dist/wasm/vhdx.simd.wasm');
