// The runtime binaries of the harness package (test/runtimes/node_modules/.bin)
// and the servers the runtime tests talk to, all on 127.0.0.1.
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'vitest';
import { IN_CI } from '../../helpers/tools.js';

export { bundleWorker, startWorkerd, type Workerd } from './workerd.mjs';

export const ROOT = new URL('../../../', import.meta.url).pathname;
const BIN = new URL('../node_modules/.bin/', import.meta.url).pathname;

export type Runtime = 'workerd' | 'deno' | 'bun';

/** Path of a runtime binary installed by `npm ci --prefix test/runtimes`. */
export function runtimeBin(name: Runtime): string {
  return `${BIN}${name}`;
}

/**
 * describe() that needs the built package and a runtime binary: locally a
 * missing one skips with a message; under CI=true it fails instead.
 */
export function describeRuntime(name: Runtime, title: string, body: () => void): void {
  const missing = [
    ...(existsSync(runtimeBin(name)) ? [] : [`${name} (npm ci --prefix test/runtimes)`]),
    ...(existsSync(`${ROOT}dist/index.js`) ? [] : ['dist/ (npm run build)']),
  ];
  if (missing.length === 0) {
    describe(title, body);
  } else if (IN_CI) {
    describe(title, () => {
      it(`has ${missing.join(', ')} (required under CI)`, () => {
        throw new Error(`runtime harness missing under CI: ${missing.join(', ')}`);
      });
    });
  } else {
    console.warn(`[runtimes] skipping "${title}": missing ${missing.join(', ')}`);
    describe.skip(title, body);
  }
}

/** A server on 127.0.0.1, port 0, closed by `close()`. */
export interface LocalServer {
  url: string;
  close(): Promise<void>;
}

/** Serves `handler` on an ephemeral loopback port. */
export async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<LocalServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
