// Sequential reads from a descriptor that cannot seek (stdin, a pipe) into a
// few reused buffers. Node's own stream reading allocates a fresh 64 KiB
// ArrayBuffer per read, and V8 lets up to 64 MiB of such garbage pile up
// before it collects: enough to break a 100 MiB memory budget. Reading here
// allocates nothing per chunk.
import { read } from 'node:fs';
import { MiB } from '../format/bytes.js';

function readOnce(fd: number, target: Uint8Array, offset: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, target, offset, target.length - offset, null, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** Fills `target`; returns fewer bytes only at end of input. */
async function fill(fd: number, target: Uint8Array): Promise<number> {
  let done = 0;
  while (done < target.length) {
    let n: number;
    try {
      n = await readOnce(fd, target, done);
    } catch (err) {
      // a descriptor left non-blocking by whoever opened it: wait for data
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Yields the input of `fd` in chunks of `chunkSize` (the last one shorter),
 * reading the next chunk while the current one is used. A chunk is valid
 * only until the next one is asked for: its buffer is then refilled.
 */
export async function* readChunks(fd: number, chunkSize = 4 * MiB): AsyncGenerator<Uint8Array, void, undefined> {
  const buffers = [new Uint8Array(chunkSize), new Uint8Array(chunkSize)];
  let next = 0;
  let pending = fill(fd, buffers[0]!);
  try {
    for (;;) {
      const n = await pending;
      if (n === 0) return;
      const current = buffers[next]!;
      next ^= 1;
      // a short chunk means the input has ended; otherwise read ahead into the other buffer
      pending = n < chunkSize ? Promise.resolve(0) : fill(fd, buffers[next]!);
      yield current.subarray(0, n);
    }
  } finally {
    pending.catch(() => {}); // abandoned by the consumer: nothing to report
  }
}
