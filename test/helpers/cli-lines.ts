// What the CLI tests expect of stderr: one error line in the fixed shape.
import { expect } from 'vitest';

/** Exactly one line on stderr, `vhdx: error[CODE]: …`; returns its message. */
export function oneLine(stderr: string, code: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  const m = new RegExp(`^vhdx: error\\[${code}\\]: (.*)$`).exec(lines[0]!);
  expect(m, stderr).not.toBeNull();
  return m![1]!;
}
