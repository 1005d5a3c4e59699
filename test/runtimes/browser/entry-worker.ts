// Module Worker entry of the test bundles: runs the checks on request.
import { runChecks } from './app.js';

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<{ base: string; label: string }>) => void) | null;
  postMessage(m: unknown): void;
};
scope.onmessage = async (event) => {
  try {
    scope.postMessage({ report: await runChecks(event.data.base, event.data.label) });
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err) });
  }
};
