#!/usr/bin/env node
// The `vhdx` command; the implementation lives in dist/node/cli.js.
import { main } from '../dist/node/cli.js';

process.exitCode = await main(process.argv.slice(2));
