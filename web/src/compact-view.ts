// What a compaction would reclaim, as the rows the page shows: the figures of
// both dry runs side by side, and what fs-trim found per partition.
import { bytes, bytesExact } from './format.js';
import type { CompactFigures, PartitionSummary } from './protocol.js';

/** Rows of the figures table: label, then `compact` and `compact --fs-trim`. */
export function figureRows(plain: CompactFigures, fsTrim: CompactFigures, blockSize: number): [string, string, string][] {
  const row = (label: string, cell: (s: CompactFigures) => string): [string, string, string] => [label, cell(plain), cell(fsTrim)];
  const blocks = (n: number) => `${n.toLocaleString('en-US')} (${bytes(n * blockSize)})`;
  return [
    row('File size now', (s) => bytesExact(s.fileSizeBefore)),
    row('File size after', (s) => bytesExact(s.fileSizeAfter)),
    row('Reclaimed', (s) => bytesExact(s.reclaimedBytes)),
    row('Blocks emptied (all zero, or unused by the filesystem)', (s) => blocks(s.zeroBlocks)),
    row('Blocks without data that held space', (s) => blocks(s.blocksFreed - s.zeroBlocks)),
    row('Sector bitmaps freed', (s) => s.bitmapsFreed.toLocaleString('en-US')),
    row('Blocks moved into holes', (s) => s.blocksMoved.toLocaleString('en-US')),
  ];
}

/** Rows of the partitions table: where, filesystem, what fs-trim made of it, its unused bytes. */
export function partitionRows(partitions: PartitionSummary[]): [string, string, string, string][] {
  return partitions.map((p) => [
    `${p.index === 0 ? 'whole disk' : `partition ${p.index}`}${p.name ? ` (${p.name})` : ''}, ${bytes(p.length)} at ${bytes(p.offset)}`,
    p.filesystem,
    p.verdict === 'trimmed' ? 'accepted' : p.verdict === 'refused' ? `refused (${p.reason}): ${p.message}` : `skipped: ${p.message}`,
    p.verdict === 'trimmed' ? bytesExact(p.freeBytes) : '—',
  ]);
}

/** The line after a compaction in place. */
export function compactedText(name: string, s: CompactFigures, fsTrim: boolean): string {
  return `Compacted ${name}${fsTrim ? ' with fs-trim' : ''}: ${bytesExact(s.fileSizeBefore)} -> ${bytesExact(s.fileSizeAfter)}, ${bytes(s.reclaimedBytes)} reclaimed`;
}
