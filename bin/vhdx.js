#!/usr/bin/env node
// The `vhdx` command; the implementation lives in dist/cli/main.js.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
