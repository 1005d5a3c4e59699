// Every state a crash could leave a file in while recorded operations ran:
// at each point, (a) every operation before it kept, and (b) only what the
// last flush covered plus a random subset of the writes and truncates after it.
import { rng as generator } from '../fuzz/mutator.mjs';
import { applyOp, RecordingFile, type FileOp } from './recording-file.js';

/** Calls `check` with every crash state of `ops` run over `before` (flush points skipped: they change no bytes). */
export async function forEachCrashState(
  before: Uint8Array,
  ops: FileOp[],
  check: (state: Uint8Array, where: string, p: number) => Promise<void>,
  seed = 42,
): Promise<void> {
  const rnd = generator(seed);
  const cur = new RecordingFile(before.slice(), false);
  let flushed = before.slice();
  let lastFlush = 0;
  for (let p = 0; p <= ops.length; p++) {
    if (p > 0) {
      applyOp(cur, ops[p - 1]!);
      if (ops[p - 1]!.kind === 'flush') {
        flushed = cur.contents().slice();
        lastFlush = p;
        continue;
      }
    }
    const some = new RecordingFile(flushed.slice(), false);
    for (let i = lastFlush; i < p; i++) if (rnd() < 0.5) applyOp(some, ops[i]!);
    await check(cur.contents().slice(), `crash after ${p} of ${ops.length} file operations (every operation kept)`, p);
    await check(some.contents().slice(), `crash after ${p} of ${ops.length} file operations (unflushed operations partly lost)`, p);
  }
}
