// Numbers as people read them.

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1.50 GiB`; whole bytes below 1 KiB. */
export function bytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  return `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${UNITS[unit]}`;
}

/** `1.50 GiB (1,610,612,736 bytes)`. */
export function bytesExact(n: number): string {
  return n < 1024 ? bytes(n) : `${bytes(n)} (${n.toLocaleString('en-US')} bytes)`;
}

/** `3.2 s` or `850 ms`. */
export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Decimal megabytes per second, as disk tools quote them. */
export function rate(byteCount: number, ms: number): string {
  return `${(byteCount / 1e6 / Math.max(ms / 1000, 1e-3)).toFixed(0)} MB/s`;
}
