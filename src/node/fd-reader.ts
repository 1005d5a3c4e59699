// Sequential reads from standard input (or any descriptor) into two reused
// buffers. Node's own stream reading allocates a fresh 64 KiB ArrayBuffer
// per read, and V8 lets up to 64 MiB of such garbage pile up before it
// collects: enough to break a 100 MiB memory budget. Here nothing is
// allocated per chunk.
// A pipe or socket is read on the event loop (net.Socket with `onread`, the
// bytes landing in our buffer), never by a blocked thread-pool read: that
// would keep the process from exiting while the writer is silent. Anything
// else (a file redirected to stdin) is read with fs.read, which never blocks.
import { fstatSync, read } from 'node:fs';
import { Socket } from 'node:net';
import { MiB } from '../format/bytes.js';

/**
 * Yields the input of `fd` in chunks of `chunkSize` (the last one shorter),
 * reading the next chunk while the current one is used. A chunk is valid
 * only until the next one is asked for: its buffer is then refilled.
 */
export function readChunks(fd: number, chunkSize = 4 * MiB): AsyncGenerator<Uint8Array, void, undefined> {
  const st = fstatSync(fd);
  return st.isFIFO() || st.isSocket() ? readStream(fd, chunkSize) : readFile(fd, chunkSize);
}

function readOnce(fd: number, target: Uint8Array, offset: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, target, offset, target.length - offset, null, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** Fills `target`; returns fewer bytes only at end of input. */
async function fill(fd: number, target: Uint8Array): Promise<number> {
  let done = 0;
  while (done < target.length) {
    const n = await readOnce(fd, target, done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

async function* readFile(fd: number, chunkSize: number): AsyncGenerator<Uint8Array, void, undefined> {
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

type BufferState = 'free' | 'filling' | 'full' | 'held';

async function* readStream(fd: number, chunkSize: number): AsyncGenerator<Uint8Array, void, undefined> {
  const buffers = [new Uint8Array(chunkSize), new Uint8Array(chunkSize)];
  const spare = new Uint8Array(Math.min(chunkSize, 64 * 1024));
  const state: BufferState[] = ['filling', 'free'];
  const fullQueue: number[] = []; // filled buffers, oldest first
  let filling = 0; // the buffer the socket reads into
  let filled = 0;
  let paused = false; // both buffers full or held: waiting for the consumer
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const options = {
    fd,
    readable: true,
    writable: false,
    onread: {
      // Node asks for the next buffer right after each read, even one that
      // pauses; while both buffers are taken it gets `spare`, which then
      // receives the first read after resume() and is copied over.
      buffer: () => (paused ? spare : buffers[filling]!.subarray(filled)),
      callback: (n: number, buf: Uint8Array): boolean => {
        if (buf.buffer === spare.buffer) buffers[filling]!.set(spare.subarray(0, n), filled);
        filled += n;
        if (filled < chunkSize) return true;
        state[filling] = 'full';
        fullQueue.push(filling);
        notify();
        const other = filling ^ 1;
        if (state[other] !== 'free') {
          paused = true;
          return false; // pauses the socket until a buffer is released
        }
        state[other] = 'filling';
        filling = other;
        filled = 0;
        return true;
      },
    },
  };
  const socket = new Socket(options as ConstructorParameters<typeof Socket>[0]);
  socket.on('end', () => {
    ended = true;
    notify();
  });
  socket.on('error', (err) => {
    failure = err;
    notify();
  });
  try {
    for (;;) {
      while (fullQueue.length === 0 && !ended && !failure) await new Promise<void>((r) => (wake = r));
      if (failure) throw failure;
      const index = fullQueue.shift();
      if (index === undefined) {
        // ended: what the current buffer holds is the last, short chunk
        if (filled > 0) yield buffers[filling]!.subarray(0, filled);
        return;
      }
      state[index] = 'held';
      yield buffers[index]!;
      // the consumer is done with it: free, or refilled at once if the socket waits
      if (paused) {
        paused = false;
        state[index] = 'filling';
        filling = index;
        filled = 0;
        socket.resume();
      } else {
        state[index] = 'free';
      }
    }
  } finally {
    socket.destroy();
  }
}
