// `npm run bench [kernels|log|memory|files|sparse|write|rss|chain|inplace|workerd|browser|size|s3] [--quick|--large]`: each section side by side with its peers.
import os from 'node:os';
import { kernelBench, logBench } from './kernels.mjs';
import { memoryBench, fileBench, rssBench } from './e2e.mjs';
import { chainBench } from './chain.mjs';
import { workerdBench } from './workerd.mjs';
import { browserBench } from './browser.mjs';
import { sparseBench } from './sparse.mjs';
import { sizeBench } from './size.mjs';
import { inplaceBench } from './inplace.mjs';
import { writeBench } from './write.mjs';
import { s3Bench } from './s3.mjs';

const only = process.argv[2];
console.log(
  `vhdx-stream bench — node ${process.version}, ${os.cpus()[0]?.model} x${os.cpus().length}, ${new Date().toISOString().slice(0, 10)}`,
);
if (!only || only === 'kernels') await kernelBench();
if (!only || only === 'kernels' || only === 'log') await logBench();
if (!only || only === 'memory') await memoryBench();
if (!only || only === 'files') await fileBench();
if (!only || only === 'files' || only === 'sparse')
  await sparseBench({ quick: process.argv.includes('--quick'), large: process.argv.includes('--large') });
if (!only || only === 'write') await writeBench({ quick: process.argv.includes('--quick') });
if (!only || only === 'rss') await rssBench();
if (!only || only === 'chain') await chainBench();
if (!only || only === 'inplace') await inplaceBench({ quick: process.argv.includes('--quick') });
if (!only || only === 'workerd') await workerdBench();
if (!only || only === 'browser') await browserBench();
if (!only || only === 'size') await sizeBench();
if (!only || only === 's3') await s3Bench({ quick: process.argv.includes('--quick') });
