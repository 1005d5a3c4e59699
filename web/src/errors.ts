// Errors as one line a person reads: the library's code and reason when it is a
// VhdxError, the DOMException name otherwise; never a stack trace.
import { VhdxError } from 'vhdx-stream';
import type { ErrorReport } from './protocol.js';

/** The parts of `err` worth showing. */
export function reportError(err: unknown): ErrorReport {
  if (err instanceof VhdxError) return { code: err.code, reason: err.reason, message: oneLine(err.message) };
  if (err instanceof Error) return { message: oneLine(err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message) };
  return { message: oneLine(String(err)) };
}

/** `VhdxError NOT_VHDX (not-vhdx): message`, or the message alone. */
export function formatError(e: ErrorReport): string {
  if (!e.code) return `Error: ${e.message}`;
  return `VhdxError ${e.code}${e.reason ? ` (${e.reason})` : ''}: ${e.message}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
