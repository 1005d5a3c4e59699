// Work items 0..count-1 run at most `limit` at once, lowest index first, with
// one rule for failure: the first error (or the caller's signal) stops the
// rest: no new item starts, the running ones see their signal abort, and once
// they have all settled the first error is thrown.

/**
 * Runs `work(index, signal)` for every index below `count`, at most `limit` at once.
 * @returns the results, by index
 * @throws the first error an item throws; `signal.reason` when `signal` aborts first
 */
export async function eachLimited<T>(
  count: number,
  limit: number,
  signal: AbortSignal | undefined,
  work: (index: number, signal: AbortSignal) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  const stop = new AbortController();
  let failed: { err: unknown } | undefined;
  const fail = (err: unknown) => {
    failed ??= { err };
    stop.abort(err);
  };
  const onAbort = () => fail(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  let next = 0;
  const lane = async () => {
    while (!failed && next < count) {
      const index = next++;
      try {
        results[index] = await work(index, stop.signal);
      } catch (err) {
        fail(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (failed) throw failed.err;
  return results;
}
