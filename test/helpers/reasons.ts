// The reason a call fails with, for tests that switch on reasons rather than message text.
import { expect } from 'vitest';
import { VhdxError } from '../../src/index.js';

/** The VhdxError reason `work` (a function, or a promise) fails with, or 'no error'. */
export async function reasonOf(work: (() => unknown) | Promise<unknown>): Promise<string> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (err) {
    expect(err).toBeInstanceOf(VhdxError);
    return (err as VhdxError).reason;
  }
  return 'no error';
}

/** The VhdxError `work` fails with (the test fails when it succeeds or throws something else). */
export async function vhdxFailure(work: () => Promise<unknown>): Promise<VhdxError> {
  const err = await work().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VhdxError);
  return err as VhdxError;
}
