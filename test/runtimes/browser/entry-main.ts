// Main-thread entry of the test bundles: exposes the checks to page.evaluate.
import { runChecks } from './app.js';

(globalThis as { runChecks?: typeof runChecks }).runChecks = runChecks;
