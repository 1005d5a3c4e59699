// What the page shows about a chosen file: raw or VHDX (by its signature),
// and for a VHDX its info and allocation pictures.
import { openVhdx, type VhdxInfo } from 'vhdx-stream';
import { blockLayout, drawFileMap, drawVirtualMap, type BlockLayout } from './block-map.js';
import { reportError, formatError } from './errors.js';
import { bytes, bytesExact } from './format.js';

/** What the chosen file is. */
export type Inspection =
  | { kind: 'raw'; size: number }
  | { kind: 'vhdx'; info: VhdxInfo; layout: BlockLayout }
  | { kind: 'broken'; error: string };

const SIGNATURE = 'vhdxfile';

/** Reads the signature and, for a VHDX, its headers, metadata and BAT (never the payload). */
export async function inspect(file: Blob): Promise<Inspection> {
  const head = new TextDecoder('latin1').decode(await file.slice(0, SIGNATURE.length).arrayBuffer());
  if (head !== SIGNATURE) return { kind: 'raw', size: file.size };
  try {
    const image = await openVhdx(file);
    try {
      const layout = blockLayout(image.extents(), image.info.blockSize, image.info.blockCount);
      return { kind: 'vhdx', info: image.info, layout };
    } finally {
      await image.close();
    }
  } catch (err) {
    return { kind: 'broken', error: formatError(reportError(err)) };
  }
}

/** The info list's rows. */
export function infoRows(found: Inspection): [string, string][] {
  if (found.kind === 'raw') return [['Type', 'raw disk image (no VHDX signature)'], ['Size', bytesExact(found.size)]];
  if (found.kind === 'broken') return [['Type', 'VHDX signature, but the file cannot be opened']];
  const { info } = found;
  const rows: [string, string][] = [
    ['Type', `VHDX, ${info.type}`],
    ['Virtual size', bytesExact(info.virtualSize)],
    ['File size', info.fileSize === undefined ? 'unknown' : bytesExact(info.fileSize)],
    ['Block size', bytes(info.blockSize)],
    ['Sectors', `${info.logicalSectorSize} bytes logical, ${info.physicalSectorSize} bytes physical`],
    ['Blocks stored', `${info.allocatedBlocks.toLocaleString('en-US')} of ${info.blockCount.toLocaleString('en-US')} (${bytes(info.allocatedBytes)})`],
    ['Log', logText(info)],
    ['Creator', info.creator || '(none)'],
  ];
  if (info.parentLocator) {
    const pairs = Object.entries(info.parentLocator).map(([k, v]) => `${k} = ${v}`);
    rows.push(['Parent locator', pairs.join('; ') || '(empty)']);
  }
  return rows;
}

function logText(info: VhdxInfo): string {
  const { log } = info;
  if (log.state === 'clean') return `clean (${bytes(log.length)} at ${bytes(log.offset)})`;
  return `dirty: replayed in memory, ${log.entriesReplayed} entries, ${log.sectorsReplayed} sectors (the file is not changed)`;
}

/** Draws both pictures and returns their captions' scale notes. */
export function drawMaps(found: Extract<Inspection, { kind: 'vhdx' }>, virtual: HTMLCanvasElement, file: HTMLCanvasElement) {
  const perCell = drawVirtualMap(virtual, found.layout);
  const mibPerCell = drawFileMap(file, found.layout, found.info);
  return {
    virtual: perCell === 1 ? 'one cell per block' : `one cell per ${perCell} blocks`,
    file: `one cell per ${mibPerCell === 1 ? 'MiB' : `${mibPerCell} MiB`}`,
  };
}
