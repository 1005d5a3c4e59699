/** A running `workerd serve`. */
export interface Workerd {
  /** Base URL of its "http" socket. */
  url: string;
  /** What it printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}
export const WORKERD: string;
export function hasWorkerd(): boolean;
export function startWorkerd(config: string, constName: string, env?: Record<string, string>): Promise<Workerd>;
export function bundleWorker(code: string, outdir: string, options?: { date?: string; conditions?: string[] }): Promise<string>;
