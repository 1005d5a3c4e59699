// `npm run bench`: every section, side by side with its peers, in one run.
import { kernelBench } from './kernels.mjs';

const only = process.argv[2];
console.log(`vhdx-stream bench — node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
if (!only || only === 'kernels') await kernelBench();
