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
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { zeroPieces } from '../layout/disk-size.js';
import type { HoleMap } from '../sources/types.js';
import { holeMapOf } from './holes.js';

/**
 * Yields the input of `fd` in chunks of `chunkSize` (the last one shorter),
 * reading the next chunk while the current one is used. A chunk is valid
 * only until the next one is asked for: its buffer is then refilled.
 * @throws the system error of a read, when the chunk it was reading is asked for (callers report it as 'read-failed')
 */
export function readChunks(fd: number, chunkSize = 4 * MiB): AsyncGenerator<Uint8Array, void, undefined> {
  const st = fstatSync(fd);
  return st.isFIFO() || st.isSocket() ? readStream(fd, chunkSize) : readFile(fd, chunkSize);
}

/**
 * Yields the regular file open at `fd` (read from its start, whatever its
 * offset), `size` bytes of it, as {@link readChunks} does, except that
 * what `holes` says is a hole is never read: it comes as views of a shared
 * zero buffer (read-only, as every chunk is to its consumer). Without a map,
 * every byte is read. Data is read one chunk ahead, into two reused buffers.
 * @throws the system error of a read; VhdxError 'read-failed' when the file ends early
 */
export async function* readFileChunks(
  fd: number,
  size: number,
  holes: HoleMap | undefined,
  chunkSize = 4 * MiB,
): AsyncGenerator<Uint8Array, void, undefined> {
  const buffers = [new Uint8Array(chunkSize), new Uint8Array(chunkSize)];
  let next = 0;
  const readAt = (target: Uint8Array, position: number): Promise<Uint8Array> => {
    return observed(
      fillAt(fd, target, position).then((n) => {
        if (n < target.length) throw new VhdxError('read-failed', `short read at ${position + n}: the input ended early`);
        return target;
      }),
    );
  };
  let pending: Promise<Uint8Array> | undefined;
  for (const piece of filePieces(size, holes, chunkSize)) {
    if (piece.zero) {
      yield* zeroPieces(piece.length);
      continue;
    }
    // the chunk read ahead is this one (pieces come in order), else it is read now
    const current = pending ?? readAt(buffers[next]!.subarray(0, piece.length), piece.position);
    next ^= 1;
    pending = piece.next && readAt(buffers[next]!.subarray(0, piece.next.length), piece.next.position);
    yield await current;
  }
}

/**
 * {@link readFileChunks} with the hole map the file system gives (where the runtime can ask, see
 * src/node/holes.ts; elsewhere every byte is read).
 */
export async function fileChunks(fd: number, size: number): Promise<AsyncGenerator<Uint8Array, void, undefined>> {
  return readFileChunks(fd, size, await holeMapOf(fd, size));
}

interface FilePiece {
  position: number;
  length: number;
  zero: boolean;
  /** The data piece after this one (read ahead while this one is used). */
  next?: { position: number; length: number };
}

/** [0, size) in order: zero stretches (holes) and data chunks of at most `chunkSize`. */
function* fileStretches(size: number, holes: HoleMap | undefined, chunkSize: number): Generator<FilePiece> {
  for (let at = 0; at < size; ) {
    const start = holes ? Math.min(size, holes.nextData(at)) : at;
    if (start > at) yield { position: at, length: start - at, zero: true };
    if (start >= size) return;
    const end = holes ? Math.min(size, holes.nextHole(start)) : size;
    for (let p = start; p < end; p += chunkSize) yield { position: p, length: Math.min(chunkSize, end - p), zero: false };
    at = end;
  }
}

/** {@link fileStretches}, each data chunk knowing the next one (looked up lazily: a hole lies between at most). */
function* filePieces(size: number, holes: HoleMap | undefined, chunkSize: number): Generator<FilePiece> {
  const it = fileStretches(size, holes, chunkSize);
  const queue: FilePiece[] = [];
  for (;;) {
    const piece = queue.shift() ?? it.next().value;
    if (!piece) return;
    if (!piece.zero) {
      let ahead = queue.find((q) => !q.zero);
      while (!ahead) {
        const r = it.next();
        if (r.done) break;
        queue.push(r.value);
        if (!r.value.zero) ahead = r.value;
      }
      if (ahead) piece.next = ahead;
    }
    yield piece;
  }
}

function readOnce(fd: number, target: Uint8Array, offset: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, target, offset, target.length - offset, null, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** Fills `target` from file position `position`; returns fewer bytes only at end of file. */
async function fillAt(fd: number, target: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < target.length) {
    const n = await new Promise<number>((resolve, reject) =>
      read(fd, target, done, target.length - done, position + done, (err, k) => (err ? reject(err) : resolve(k))),
    );
    if (n === 0) break;
    done += n;
  }
  return done;
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

/**
 * `read`, observed from the start: a read ahead may fail while the consumer holds the chunk before
 * it (or after the consumer has left); its failure is thrown when its own chunk is asked for, never
 * left unhandled.
 */
function observed<T>(read: Promise<T>): Promise<T> {
  read.catch(() => {});
  return read;
}

async function* readFile(fd: number, chunkSize: number): AsyncGenerator<Uint8Array, void, undefined> {
  const buffers = [new Uint8Array(chunkSize), new Uint8Array(chunkSize)];
  let next = 0;
  let pending = observed(fill(fd, buffers[0]!));
  for (;;) {
    const n = await pending;
    if (n === 0) return;
    const current = buffers[next]!;
    next ^= 1;
    // a short chunk means the input has ended; otherwise read ahead into the other buffer
    pending = n < chunkSize ? Promise.resolve(0) : observed(fill(fd, buffers[next]!));
    yield current.subarray(0, n);
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
