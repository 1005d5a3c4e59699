// `vhdx check -r all` and `vhdx repair`: the library's repair of a file in
// place, one line per action it took (then `check` reports on the result).
import { repairVhdx, type RepairAction } from '../node/index.js';
import type { ChainFlags } from './args.js';
import { inPlaceFile } from './inplace-options.js';

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** One action as the line printed for it. */
export function actionLine(a: RepairAction): string {
  switch (a.action) {
    case 'log-replayed':
      return `repaired: replayed the log onto the file (${count(a.entries, 'entry', 'entries')}, ${count(a.sectors, 'data sector', 'data sectors')})`;
    case 'log-cleared':
      return 'repaired: cleared the active log (it held nothing to replay)';
    case 'file-extended':
      return `repaired: grew the file from ${a.from} to ${a.to} bytes (the log's LastFileOffset)`;
  }
}

/**
 * Repairs the file at `arg` in place and prints what was done (to stderr when
 * the report that follows is JSON, so stdout stays one JSON document).
 * @throws UsageError for stdin or a URL (a file must be named); VhdxError as the library's `repairVhdx`
 */
export async function repair(arg: string, json: boolean, chain: ChainFlags): Promise<void> {
  inPlaceFile('repair', arg);
  const { actions } = await repairVhdx(arg, {
    ...(chain.parent !== undefined ? { parent: chain.parent } : {}),
    ignoreLinkage: chain.ignoreLinkage,
  });
  const lines = actions.length ? actions.map(actionLine) : ['repaired: nothing to do (the log is clean)'];
  (json ? process.stderr : process.stdout).write(`${lines.join('\n')}\n`);
}
