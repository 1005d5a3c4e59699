// The fuzz oracle: any input ends, within a time bound, in correct output or
// a VhdxError; when both the random-access reader and the stream succeed they
// give the same bytes. A differencing input comes with its parent's bytes:
// openVhdx and checkVhdx take them as `parent`, the stream an image opened
// from them. Returns a problem string, or undefined when all is well.

const MiB = 1024 * 1024;

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`TIMEOUT: ${what} took over ${ms} ms`)), ms);
    }),
  ]);
}

function byteStream(bytes, chunk = MiB) {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.subarray(at, Math.min(bytes.length, at + chunk)));
      at += chunk;
    },
  });
}

async function streamPrefix(lib, bytes, cap, options) {
  const input = byteStream(bytes);
  const reader = input.pipeThrough(new lib.VhdxDecoderStream(options)).getReader();
  const out = new Uint8Array(cap);
  let n = 0;
  while (n < cap) {
    const { value, done } = await reader.read();
    if (done) break;
    const take = Math.min(value.length, cap - n);
    out.set(value.subarray(0, take), n);
    n += take;
  }
  await reader.cancel().catch(() => {});
  return out.subarray(0, n);
}

async function randomPrefix(lib, bytes, cap, options) {
  const image = await lib.openVhdx(bytes, options);
  try {
    const n = Math.min(cap, image.info.virtualSize);
    image.extents({ start: 0, end: n });
    await image.check();
    return await image.read(0, n);
  } finally {
    await image.close();
  }
}

/**
 * @param {any} lib
 * @param {Uint8Array} bytes
 * @param {{ cap?: number; timeoutMs?: number; options?: Record<string, unknown>; parent?: Uint8Array }} [how]
 */
export async function runCase(lib, bytes, how = {}) {
  const { cap = MiB, timeoutMs = 10_000, options = { maxBufferBytes: 32 * MiB }, parent } = how;
  if (parent) return runChildCase(lib, bytes, parent, { cap, timeoutMs, options });
  return runWith(lib, bytes, { cap, timeoutMs }, options, options);
}

/** A differencing child: the parent is opened once for the stream (and closed after). */
async function runChildCase(lib, bytes, parentBytes, { cap, timeoutMs, options }) {
  const parent = await lib.openVhdx(parentBytes);
  try {
    return await runWith(lib, bytes, { cap, timeoutMs }, { ...options, parent: parentBytes }, { ...options, parent });
  } finally {
    await parent.close();
  }
}

async function runWith(lib, bytes, { cap, timeoutMs }, options, streamOptions) {
  const outcome = async (fn, what) => {
    try {
      return { data: await withTimeout(fn(), timeoutMs, what) };
    } catch (/** @type {any} */ err) {
      if (err instanceof lib.VhdxError) return { code: err.code };
      const e = /** @type {any} */ (err);
      return { problem: `${what} threw ${e?.name ?? typeof e}: ${e?.message ?? String(e)}` };
    }
  };
  const a = await outcome(() => randomPrefix(lib, bytes, cap, options), 'openVhdx');
  if (a.problem) return a.problem;
  const b = await outcome(() => streamPrefix(lib, bytes, cap, streamOptions), 'VhdxDecoderStream');
  if (b.problem) return b.problem;
  if (!a.data) {
    // openVhdx refused the file: checkVhdx must still answer with a report,
    // and name a problem unless the file is merely unsupported
    const c = await outcome(async () => {
      const report = await lib.checkVhdx(bytes, options);
      if (!Array.isArray(report.problems)) throw new Error('malformed report');
      if (a.code !== 'UNSUPPORTED' && (report.ok !== false || report.problems.length === 0))
        throw new Error(`checkVhdx passed a file openVhdx refused with ${a.code}`);
    }, 'checkVhdx');
    if (c.problem) return c.problem;
  }
  if (a.data && b.data) {
    const n = Math.min(a.data.length, b.data.length);
    const x = Buffer.from(a.data.buffer, a.data.byteOffset, n);
    const y = Buffer.from(b.data.buffer, b.data.byteOffset, n);
    if (!x.equals(y)) {
      let i = 0;
      while (x[i] === y[i]) i++;
      return `openVhdx and the stream differ at virtual offset ${i}`;
    }
  }
  return undefined;
}
