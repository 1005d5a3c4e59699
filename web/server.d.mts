import type { IncomingMessage, ServerResponse } from 'node:http';

export interface StaticServer {
  /** Base URL, ending in a slash. */
  url: string;
  close(): Promise<void>;
}

/** Serves `root` on 127.0.0.1; `intercept` may answer a request first by returning true. */
export function serveStatic(
  root: string,
  options?: { port?: number; intercept?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean | Promise<boolean> },
): Promise<StaticServer>;
