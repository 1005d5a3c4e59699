// The command's manners at a terminal and a pipe: disk images are never
// written to a terminal nor awaited from one, and a reader that goes away
// (`| head`) ends the command the way it ends any Unix tool.
import { UsageError } from './usage-error.js';

/** The standard streams' terminal-ness, as the checks below need it (a seam for tests). */
export interface Terminals {
  stdin: boolean;
  stdout: boolean;
}

/** Whether stdin and stdout are terminals now. */
export function currentTerminals(): Terminals {
  return { stdin: !!process.stdin.isTTY, stdout: !!process.stdout.isTTY };
}

/**
 * Refuses before any work what a terminal cannot give or take: an image read
 * from a terminal on stdin (it would wait silently for typed bytes) and binary
 * written onto one.
 * @throws UsageError naming what to do instead
 */
export function refuseTerminals(input: string, output: string | undefined, terminals: Terminals = currentTerminals()): void {
  if (input === '-' && terminals.stdin) {
    throw new UsageError('standard input is a terminal: pipe or redirect an image into it (< disk.raw), or name the input file');
  }
  if (output === '-' && terminals.stdout) {
    throw new UsageError('refusing to write a disk image to a terminal: redirect standard output (> disk.vhdx) or name an output file');
  }
}

/** True when `err` (or an error it wraps) is a write to a pipe whose reader has gone (EPIPE). */
export function isClosedPipe(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return true;
  }
  return false;
}

/**
 * Ends the process as a Unix tool ends when its reader goes away: silently,
 * killed by SIGPIPE (which node ignores; removing our listener restores the
 * default action). Should the signal not end it, exits with the status a
 * shell shows for it, 128 + 13.
 */
export function endOnClosedPipe(): never {
  process.on('SIGPIPE', () => {});
  process.removeAllListeners('SIGPIPE');
  process.kill(process.pid, 'SIGPIPE');
  process.exit(141);
}
