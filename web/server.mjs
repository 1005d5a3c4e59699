// A static file server for the converter page and the browser tests, on
// 127.0.0.1 only. Nothing here is needed by the page itself: any static host
// (with JavaScript served as text/javascript) serves web/dist as well.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

/**
 * Serves `root` on an ephemeral (or the given) loopback port; `/` is index.html.
 * `intercept(req, res, path)` may answer a request first by returning true.
 * @param {string} root
 * @param {{ port?: number, intercept?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, path: string) => boolean | Promise<boolean> }} [options]
 * @returns {Promise<{ url: string, close(): Promise<void> }>}
 */
export async function serveStatic(root, options = {}) {
  const server = createServer((req, res) => {
    answer(root, req, res, options.intercept).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve(undefined));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}

async function answer(root, req, res, intercept) {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
  if (intercept && (await intercept(req, res, path))) return;
  const relative = normalize(path === '/' ? 'index.html' : path.slice(1));
  if (relative.startsWith('..') || relative.split(sep).includes('..')) {
    res.writeHead(403).end();
    return;
  }
  let body;
  try {
    body = await readFile(join(root, relative));
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': TYPES[extname(relative)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
  res.end(body);
}
