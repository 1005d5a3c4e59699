// The test server: web/server.mjs over a directory, plus PUT /upload/<name>,
// through which pages hand files (bundled outputs, OPFS contents) to Node,
// and a log of the paths fetched.
import { serveStatic, type StaticServer } from '../../../web/server.mjs';

export interface UploadServer {
  server: StaticServer;
  /** Bodies PUT to /upload/<name>, by name. */
  uploads: Map<string, Buffer>;
  /** Paths requested, in order. */
  requests: string[];
}

export async function serveWithUploads(root: string): Promise<UploadServer> {
  const uploads = new Map<string, Buffer>();
  const requests: string[] = [];
  const server = await serveStatic(root, {
    intercept: async (req, res, path) => {
      requests.push(path);
      if (req.method !== 'PUT' || !path.startsWith('/upload/')) return false;
      const parts: Buffer[] = [];
      for await (const part of req) parts.push(part as Buffer);
      uploads.set(path.slice('/upload/'.length), Buffer.concat(parts));
      res.writeHead(204).end();
      return true;
    },
  });
  return { server, uploads, requests };
}
