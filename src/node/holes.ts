// Where a file's data is, as the file system knows it: lseek(SEEK_DATA /
// SEEK_HOLE) from libc through the runtime's foreign-function interface
// (Node 26's node:ffi, Bun's bun:ffi), with no compiled addon. A runtime
// without one gets no map, and callers read every byte as before.
import { platform } from 'node:process';
import type { HoleMap } from '../sources/types.js';

export type { HoleMap } from '../sources/types.js';

type Lseek = (fd: number, offset: bigint, whence: number) => bigint | number;

/** SEEK_DATA and SEEK_HOLE differ by system. */
const WHENCE: Partial<Record<NodeJS.Platform, { data: number; hole: number; libc: string }>> = {
  linux: { data: 3, hole: 4, libc: 'libc.so.6' },
  freebsd: { data: 3, hole: 4, libc: 'libc.so.7' },
  darwin: { data: 4, hole: 3, libc: '/usr/lib/libSystem.B.dylib' },
};

let loaded: Promise<Lseek | undefined> | undefined;

/** Node's node:ffi warns that it is experimental on first use; a command's output stays clean. */
async function quietly<T>(load: () => Promise<T>): Promise<T> {
  const emit = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (/\bFFI\b/.test(text)) return;
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return await load();
  } finally {
    process.emitWarning = emit;
  }
}

async function loadLseek(): Promise<Lseek | undefined> {
  const sys = WHENCE[platform];
  if (!sys) return undefined;
  const bun = (globalThis as { Bun?: unknown }).Bun !== undefined;
  try {
    if (bun) {
      const spec = 'bun:ffi';
      const ffi = (await import(spec)) as {
        dlopen(path: string, s: Record<string, { args: string[]; returns: string }>): { symbols: { lseek: Lseek } };
      };
      return ffi.dlopen(sys.libc, { lseek: { args: ['i32', 'i64', 'i32'], returns: 'i64' } }).symbols.lseek;
    }
    return await quietly(async () => {
      const spec = 'node:ffi';
      const ffi = (await import(spec)) as {
        dlopen?(path: string, s: Record<string, { return: string; arguments: string[] }>): { functions: { lseek: Lseek } };
      };
      if (typeof ffi.dlopen !== 'function') return undefined;
      return ffi.dlopen(sys.libc, { lseek: { return: 'int64', arguments: ['int32', 'int64', 'int32'] } }).functions.lseek;
    });
  } catch {
    // no FFI in this runtime (Node before 26, Deno without --allow-ffi, a libc elsewhere): read as before
    return undefined;
  }
}

/**
 * True when this runtime can ask a file system where a file's holes are (Node
 * 26 through node:ffi, Bun through bun:ffi); the Node entry's file paths then
 * read only where files hold data.
 * @throws never: a runtime without a foreign-function interface answers false.
 */
export async function canMapHoles(): Promise<boolean> {
  loaded ??= loadLseek();
  return (await loaded) !== undefined;
}

/**
 * The hole map of an open descriptor, or undefined where the runtime cannot
 * ask or the file system does not answer (it then reports the whole file as
 * data, and a map would save nothing). `sizeOf` is the file's size now (it
 * may grow while a file is written in place).
 */
export async function holeMapOf(fd: number, sizeOf: number | (() => number)): Promise<HoleMap | undefined> {
  loaded ??= loadLseek();
  const lseek = await loaded;
  const sys = WHENCE[platform];
  const sizeNow = typeof sizeOf === 'number' ? () => sizeOf : sizeOf;
  if (!lseek || !sys || sizeNow() === 0) return undefined;
  const seek = (position: number, whence: number): number => {
    const size = sizeNow();
    if (position >= size) return size;
    const at = Number(lseek(fd, BigInt(position), whence));
    // -1: ENXIO (no data after position) or the file shrank; either way nothing more to read
    return at < 0 ? size : Math.min(at, size);
  };
  if (seek(0, sys.hole) >= sizeNow()) return undefined; // no hole at all, or no support
  return {
    nextData: (position) => seek(position, sys.data),
    nextHole: (position) => seek(position, sys.hole),
  };
}
