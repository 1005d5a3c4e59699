// The runtime binaries of the harness package (test/runtimes/node_modules/.bin)
// and the servers the runtime tests talk to, all on 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { describe, it } from 'vitest';
import { IN_CI } from '../../helpers/tools.js';

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

/** A running `workerd serve`. */
export interface Workerd {
  /** Base URL of its "http" socket. */
  url: string;
  /** What it printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `workerd serve <config> <constName>` with the socket named "http"
 * on an ephemeral loopback port; workerd reports the port on a control
 * descriptor once it listens. Rejects with workerd's output if it exits first.
 */
export function startWorkerd(config: string, constName: string, env: Record<string, string> = {}): Promise<Workerd> {
  const child = spawn(runtimeBin('workerd'), ['serve', config, constName, '--socket-addr', 'http=127.0.0.1:0', '--control-fd', '3'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stopChild(child, exited);
      reject(new Error(`workerd did not listen within 30 s:\n${log}`));
    }, 30_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`workerd exited (${code ?? signal}) before listening:\n${log}`));
    });
    const control = createInterface({ input: child.stdio[3] as NodeJS.ReadableStream });
    control.on('line', (line) => {
      const event = JSON.parse(line) as { event: string; socket?: string; port?: number };
      if (event.event !== 'listen' || event.socket !== 'http') return;
      clearTimeout(timer);
      resolve({ url: `http://127.0.0.1:${event.port}`, output: () => log, stop: () => stopChild(child, exited) });
    });
  });
}

function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  return exited;
}
