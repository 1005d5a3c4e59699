// A tiny HTTP server on 127.0.0.1 serving byte arrays by path, with Range
// requests unless the query says `norange`, without Content-Length when it
// says `nolength`, and cut off half way (its Content-Length promising the
// whole) when it says `cut`, gzip-encoded (Content-Length the compressed size)
// when it says `gzip`; Range answers cut off half way when it says
// `shortrange`: how the CLI tests serve URL inputs.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';

export interface FileServer {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  base: string;
  close(): Promise<void>;
}

/** Serves `files` (path -> bytes, read at each request, so it may change later) until closed. */
export async function serveFiles(files: ReadonlyMap<string, Uint8Array>): Promise<FileServer> {
  const server = createServer((req, res) => {
    const [path, query] = (req.url ?? '').split('?');
    const body = files.get(path!);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    if (range && query === 'shortrange') {
      // a 206 whose body stops half way: its Content-Length promises the whole range
      const start = Number(range[1]);
      const end = Math.min(body.length - 1, Number(range[2]));
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1 });
      res.write(Buffer.from(body.subarray(start, start + ((end - start + 1) >> 1))), () => res.socket?.destroy());
    } else if (range && query !== 'norange') {
      const start = Number(range[1]);
      const end = Math.min(body.length - 1, Number(range[2]));
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1 });
      res.end(Buffer.from(body.subarray(start, end + 1)));
    } else if (query === 'gzip') {
      const packed = gzipSync(body);
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': packed.length });
      res.end(packed);
    } else if (query === 'cut') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(Buffer.from(body.subarray(0, body.length >> 1)), () => res.socket?.destroy());
    } else {
      res.writeHead(200, query === 'nolength' ? {} : { 'content-length': body.length });
      res.end(Buffer.from(body));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Runs `node bin args` in the background (so this process can keep serving), collecting its output. */
export function runAsync(bin: string, args: string[], cwd: string): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: err }));
  });
}
