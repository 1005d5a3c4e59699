// The allocation pictures: one cell per block of the virtual disk coloured by
// its state, and the file drawn in 1 MiB units showing where each block's
// payload sits (shaded by the block's place on the virtual disk).
import type { Extent, VhdxInfo } from 'vhdx-stream';

export type BlockState = 'data' | 'zero' | 'unmapped';

/** Per block of the virtual disk: its state, and where its payload starts in the file (-1: not stored). */
export interface BlockLayout {
  blockSize: number;
  states: BlockState[];
  fileOffsets: Float64Array;
}

/** Splits `image.extents()` (merged runs, block aligned) back into blocks. */
export function blockLayout(extents: Extent[], blockSize: number, blockCount: number): BlockLayout {
  const states = new Array<BlockState>(blockCount).fill('unmapped');
  const fileOffsets = new Float64Array(blockCount).fill(-1);
  for (const e of extents) {
    const first = Math.floor(e.offset / blockSize);
    const end = Math.min(blockCount, Math.ceil((e.offset + e.length) / blockSize));
    for (let b = first; b < end; b++) {
      states[b] = e.kind;
      if (e.kind === 'data') fileOffsets[b] = e.fileOffset + (b * blockSize - e.offset);
    }
  }
  return { blockSize, states, fileOffsets };
}

export const COLOURS = {
  data: '#1f7a8c',
  zero: '#e3e7ea',
  unmapped: '#f2c14e',
  header: '#5c6670',
  log: '#8d99a6',
  metadata: '#b07cc6',
  bat: '#d1495b',
  free: '#f3f5f6',
};

/** Payload shade for a block `t` of the way (0..1) through the virtual disk: light at the start, dark at the end. */
function payloadShade(t: number): string {
  const from = [143, 211, 222];
  const to = [16, 70, 84];
  const mix = from.map((c, i) => Math.round(c + (to[i]! - c) * t));
  return `rgb(${mix.join(',')})`;
}

const MiB = 1024 * 1024;
const MAX_HEIGHT = 180;

/** How many items one cell shows and how big cells are, for `count` items on a canvas `width` wide. */
function grid(count: number, width: number): { per: number; cell: number; cols: number; rows: number } {
  for (const cell of [16, 12, 10, 8, 6, 5, 4, 3]) {
    const cols = Math.floor(width / cell);
    const rows = Math.ceil(count / cols);
    if (rows * cell <= MAX_HEIGHT) return { per: 1, cell, cols, rows };
  }
  const cell = 3;
  const cols = Math.floor(width / cell);
  const per = Math.ceil(count / (cols * Math.floor(MAX_HEIGHT / cell)));
  return { per, cell, cols, rows: Math.ceil(Math.ceil(count / per) / cols) };
}

interface Painted {
  per: number;
  cell: number;
  cols: number;
}

/** Draws `count` cells, `colour(i)` giving the colour of the cell for items [i*per, (i+1)*per). */
function paint(canvas: HTMLCanvasElement, count: number, colour: (first: number, end: number) => string): Painted {
  const width = canvas.parentElement?.clientWidth || 640;
  const g = grid(count, width);
  const cells = Math.ceil(count / g.per);
  const ratio = window.devicePixelRatio || 1;
  canvas.style.width = `${g.cols * g.cell}px`;
  canvas.style.height = `${g.rows * g.cell}px`;
  canvas.width = Math.round(g.cols * g.cell * ratio);
  canvas.height = Math.round(g.rows * g.cell * ratio);
  const ctx = canvas.getContext('2d')!;
  ctx.scale(ratio, ratio);
  const gap = g.cell >= 6 ? 1 : 0;
  for (let i = 0; i < cells; i++) {
    ctx.fillStyle = colour(i * g.per, Math.min(count, (i + 1) * g.per));
    ctx.fillRect((i % g.cols) * g.cell, Math.floor(i / g.cols) * g.cell, g.cell - gap, g.cell - gap);
  }
  return g;
}

/** Which item the pointer is over, or -1. */
function itemAt(canvas: HTMLCanvasElement, g: Painted, event: MouseEvent, count: number): number {
  const rect = canvas.getBoundingClientRect();
  const col = Math.floor((event.clientX - rect.left) / g.cell);
  const row = Math.floor((event.clientY - rect.top) / g.cell);
  if (col < 0 || col >= g.cols) return -1;
  const item = (row * g.cols + col) * g.per;
  return item < count ? item : -1;
}

/** The virtual disk, block by block; returns how many blocks one cell shows. */
export function drawVirtualMap(canvas: HTMLCanvasElement, layout: BlockLayout): number {
  const { states } = layout;
  const g = paint(canvas, states.length, (first, end) => {
    let best: BlockState = 'unmapped';
    for (let b = first; b < end; b++) {
      if (states[b] === 'data') return COLOURS.data;
      if (states[b] === 'zero') best = 'zero';
    }
    return COLOURS[best];
  });
  canvas.onmousemove = (event) => {
    const b = itemAt(canvas, g, event, states.length);
    if (b < 0) return void (canvas.title = '');
    const where = layout.fileOffsets[b]! >= 0 ? ` at file offset ${hex(layout.fileOffsets[b]!)}` : '';
    canvas.title = `block ${b}${g.per > 1 ? ` (+${g.per - 1})` : ''}: ${states[b]}${where}`;
  };
  return g.per;
}

/** The file in 1 MiB units: header, regions, payload shaded by virtual position; returns MiB per cell. */
export function drawFileMap(canvas: HTMLCanvasElement, layout: BlockLayout, info: VhdxInfo): number {
  const units = Math.max(1, Math.ceil((info.fileSize ?? 0) / MiB));
  const owner = new Array<string>(units).fill('free');
  const fill = (offset: number, length: number, what: string) => {
    for (let u = Math.floor(offset / MiB); u < Math.min(units, Math.ceil((offset + length) / MiB)); u++) owner[u] = what;
  };
  fill(0, MiB, 'header');
  for (const r of info.regions) if (r.name in COLOURS) fill(r.offset, r.length, r.name);
  const blockCount = layout.states.length;
  layout.fileOffsets.forEach((offset, b) => {
    if (offset >= 0) fill(offset, layout.blockSize, `block:${b}`);
  });
  const colourOf = (what: string) =>
    what.startsWith('block:') ? payloadShade(Number(what.slice(6)) / Math.max(1, blockCount - 1)) : COLOURS[what as keyof typeof COLOURS];
  const g = paint(canvas, units, (first, end) => {
    for (let u = first; u < end; u++) if (owner[u] !== 'free') return colourOf(owner[u]!);
    return COLOURS.free;
  });
  canvas.onmousemove = (event) => {
    const u = itemAt(canvas, g, event, units);
    if (u < 0) return void (canvas.title = '');
    const what = owner[u]!;
    canvas.title = `file ${hex(u * MiB)}: ${what.startsWith('block:') ? `payload of block ${what.slice(6)}` : what}`;
  };
  return g.per;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
