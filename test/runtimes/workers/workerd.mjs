// Bundling a Worker that imports the built package, and starting `workerd
// serve` on an ephemeral loopback port. Plain JS so that the runtime tests
// and the workerd bench (bench/workerd.mjs) share it.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';

const ROOT = new URL('../../../', import.meta.url).pathname;

/**
 * The native workerd binary installed by `npm ci --prefix test/runtimes` (the path the package
 * exports), not `.bin/workerd`: without its postinstall, which npm 11 does not run here, that is a
 * Node shim running the binary with only descriptors 0-2, so `--control-fd 3` fails with "Bad file
 * descriptor". Empty when the package is missing.
 */
export const WORKERD = nativeWorkerd();

function nativeWorkerd() {
  try {
    return /** @type {{ default: string }} */ (createRequire(new URL('../package.json', import.meta.url))('workerd')).default;
  } catch {
    return '';
  }
}

/** Whether the workerd binary is installed. */
export function hasWorkerd() {
  return WORKERD !== '' && existsSync(WORKERD);
}

/** A workerd config for one Worker: `worker.js` plus the two kernel modules, no compatibility flags. */
function configFor(date) {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = (
    modules = [
      (name = "worker.js", esModule = embed "worker.js"),
      (name = "vhdx.wasm", wasm = embed "vhdx.wasm"),
      (name = "vhdx.simd.wasm", wasm = embed "vhdx.simd.wasm"),
    ],
    compatibilityDate = "${date}",
  )) ],
  # the address comes from the command line: --socket-addr http=127.0.0.1:0
  sockets = [ (name = "http", http = (), service = "main") ],
);
`;
}

/**
 * Bundles `code`, a Worker module importing the built package (resolved from
 * this repository like an installed dependency), as wrangler would: one ES
 * module, `.wasm` imports kept and the files copied beside it. Writes
 * worker.js, the two .wasm files and config.capnp into `outdir`; returns the
 * config's path. `node:` imports are left in place (to show they fail).
 * @param {string} code
 * @param {string} outdir
 * @param {{ date?: string, conditions?: string[] }} [options]
 */
export async function bundleWorker(code, outdir, { date = '2026-10-01', conditions = ['workerd', 'worker', 'browser'] } = {}) {
  mkdirSync(outdir, { recursive: true });
  await build({
    stdin: { contents: code, resolveDir: ROOT, loader: 'js', sourcefile: 'worker-source.js' },
    outfile: join(outdir, 'worker.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions,
    external: ['*.wasm', 'node:*'],
    logLevel: 'silent',
  });
  for (const wasm of ['vhdx.wasm', 'vhdx.simd.wasm']) copyFileSync(join(ROOT, 'dist/wasm', wasm), join(outdir, wasm));
  writeFileSync(join(outdir, 'config.capnp'), configFor(date));
  return join(outdir, 'config.capnp');
}

/**
 * Starts `workerd serve <config> <constName>` with the socket named "http"
 * on an ephemeral 127.0.0.1 port; workerd reports the port on a control
 * descriptor once it listens. Rejects with workerd's output if it exits first.
 * @param {string} config
 * @param {string} constName
 * @param {Record<string, string>} [env]
 */
export function startWorkerd(config, constName, env = {}) {
  const child = spawn(WORKERD, ['serve', config, constName, '--socket-addr', 'http=127.0.0.1:0', '--control-fd', '3'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', () => resolve(undefined)));
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`workerd did not listen within 30 s:\n${log}`));
    }, 30_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`workerd exited (${code ?? signal}) before listening:\n${log}`));
    });
    const control = createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdio[3]) });
    control.on('line', (line) => {
      const event = JSON.parse(line);
      if (event.event !== 'listen' || event.socket !== 'http') return;
      clearTimeout(timer);
      resolve({ url: `http://127.0.0.1:${event.port}`, output: () => log, stop });
    });
  });
}
