#!/usr/bin/env node
// The `vhdx` command; the implementation is src/cli/main.ts, built into one
// file (dist/cli/vhdx.js, see scripts/build-ts.mjs) so that it starts quickly.
import { main } from '../dist/cli/vhdx.js';

process.exitCode = await main(process.argv.slice(2));
