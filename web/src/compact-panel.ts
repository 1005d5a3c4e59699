// The Compact section: for a chosen VHDX, what a compaction would reclaim
// (the library's dry runs, in the Worker); a copy into OPFS; and for an OPFS
// file, a compaction in place with before/after sizes and a download.
import { compactedText, figureRows, partitionRows } from './compact-view.js';
import { formatError, reportError } from './errors.js';
import { bytes } from './format.js';
import type { Inspection } from './inspect.js';
import { TaskError, type TaskClient } from './task-client.js';

/** What the panel needs from the rest of the page. */
export interface PanelHooks {
  isBusy(): boolean;
  setBusy(on: boolean): void;
  /** Lists OPFS again and chooses `file` (an OPFS file) as if opened from the list. */
  reopen(file: File, name: string): Promise<void>;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export class CompactPanel {
  private readonly ui = {
    section: $('compact'),
    progress: $<HTMLProgressElement>('compact-progress'),
    progressText: $('compact-progress-text'),
    error: $('compact-error'),
    plan: $('compact-plan'),
    figures: $<HTMLTableSectionElement>('compact-figures-body'),
    table: $('compact-table'),
    partitions: $<HTMLTableSectionElement>('compact-partitions-body'),
    store: $<HTMLButtonElement>('compact-store'),
    fsTrim: $<HTMLInputElement>('compact-fs-trim'),
    start: $<HTMLButtonElement>('compact-start'),
    note: $('compact-note'),
    result: $('compact-result'),
  };
  /** The file shown; a newer choice makes older answers stale. */
  private current: { file: File; opfsName?: string | undefined; generation: number } | undefined;
  private generation = 0;
  private planning = false;
  private opfs: { ok: boolean; reason?: string | undefined } = { ok: false, reason: 'checking…' };
  private downloadUrl: string | undefined;

  constructor(
    private readonly tasks: TaskClient,
    private readonly hooks: PanelHooks,
  ) {
    this.ui.store.addEventListener('click', () => void this.store());
    this.ui.start.addEventListener('click', () => void this.compact());
  }

  /** Whether this browser can keep files in OPFS (the Worker's probe). */
  setOpfs(ok: boolean, reason?: string): void {
    this.opfs = { ok, reason };
    this.refresh();
  }

  /** Shows the section for a VHDX (hides it for anything else) and starts the dry runs. */
  show(file: File, found: Inspection, opfsName?: string): void {
    const generation = ++this.generation;
    this.ui.section.hidden = found.kind !== 'vhdx';
    this.current = undefined;
    this.setResult('', '');
    if (found.kind !== 'vhdx') return;
    this.current = { file, opfsName, generation };
    void this.plan(file, found.info.blockSize, generation);
  }

  private async plan(file: File, blockSize: number, generation: number): Promise<void> {
    const { ui } = this;
    ui.plan.hidden = true;
    ui.error.hidden = true;
    ui.section.dataset.state = 'planning';
    this.planning = true;
    this.refresh();
    this.setProgress(0, 'looking at the blocks…');
    try {
      const { plain, fsTrim } = await this.tasks.run({ kind: 'plan', file }, (done, total, phase) => {
        if (generation === this.generation) this.setProgress(total > 0 ? done / total : 0, `${phase}: ${bytes(done)} of ${bytes(total)}`);
      });
      if (generation !== this.generation) return;
      fill(ui.figures, figureRows(plain, fsTrim, blockSize));
      fill(ui.partitions, partitionRows(fsTrim.fsTrim?.partitions ?? []));
      ui.table.textContent = `(partition table: ${fsTrim.fsTrim?.table ?? 'none'})`;
      ui.plan.hidden = false;
      this.setProgress(1, 'dry run done: nothing was written');
    } catch (err) {
      if (generation !== this.generation) return;
      ui.error.textContent = `Cannot compact: ${message(err)}`;
      ui.error.hidden = false;
      this.setProgress(0, '');
    } finally {
      if (generation === this.generation) {
        this.planning = false;
        ui.section.dataset.state = 'planned';
        this.refresh();
      }
    }
  }

  /** Enables what can run now and says why the rest cannot. */
  refresh(): void {
    const { ui, current } = this;
    const idle = !this.planning && !this.hooks.isBusy() && current !== undefined;
    const inOpfs = current?.opfsName !== undefined;
    ui.store.hidden = inOpfs;
    // a file the dry run refused cannot be compacted anywhere: neither copy nor compaction is offered
    const refused = !ui.error.hidden;
    ui.store.disabled = !idle || !this.opfs.ok || refused;
    ui.start.disabled = !idle || !inOpfs || refused;
    ui.note.textContent = !this.opfs.ok
      ? `Compacting in place needs this site's private storage, which is not available: ${this.opfs.reason ?? 'unknown'}.`
      : inOpfs
        ? 'Compacting changes this file in private storage in place; the disk reads the same afterwards.'
        : 'A picked file cannot be changed in place: copy it into private storage to compact it there, then download it.';
  }

  private async store(): Promise<void> {
    const current = this.current;
    if (!current || this.hooks.isBusy()) return;
    await this.exclusive(async () => {
      const { name } = await this.tasks.run({ kind: 'store', file: current.file, name: current.file.name }, (done, total, phase) =>
        this.setProgress(total > 0 ? done / total : 0, `${phase}: ${bytes(done)} of ${bytes(total)}`),
      );
      await this.hooks.reopen(await opfsFile(name), name);
      this.setResult('done', `Copied into private storage (OPFS) as ${name}.`);
    });
  }

  private async compact(): Promise<void> {
    const name = this.current?.opfsName;
    if (name === undefined || this.hooks.isBusy()) return;
    const fsTrim = this.ui.fsTrim.checked;
    await this.exclusive(async () => {
      const { summary } = await this.tasks.run({ kind: 'compact', name, fsTrim }, (done, total, phase) =>
        this.setProgress(total > 0 ? done / total : 0, `${phase}: ${bytes(done)} of ${bytes(total)}`),
      );
      const file = await opfsFile(name);
      await this.hooks.reopen(file, name);
      this.setResult('done', compactedText(name, summary, fsTrim));
      if (this.downloadUrl) URL.revokeObjectURL(this.downloadUrl);
      this.downloadUrl = URL.createObjectURL(file);
      const link = document.createElement('a');
      link.href = this.downloadUrl;
      link.download = name;
      link.textContent = 'download it';
      this.ui.result.append(' ', link);
    });
  }

  /** Runs in-place work with the rest of the page held still; failures go to the result line. */
  private async exclusive(work: () => Promise<void>): Promise<void> {
    this.hooks.setBusy(true);
    this.setResult('running', '');
    this.refresh();
    try {
      await work();
    } catch (err) {
      this.setResult('error', message(err));
    } finally {
      this.hooks.setBusy(false);
      this.refresh();
    }
  }

  private setProgress(fraction: number, text: string): void {
    this.ui.progress.value = fraction;
    this.ui.progressText.textContent = text;
  }

  private setResult(state: string, text: string): void {
    this.ui.result.dataset.state = state;
    this.ui.result.className = state === 'done' ? 'ok' : state === 'error' ? 'error' : '';
    this.ui.result.textContent = text;
  }
}

/** A fresh File of an OPFS entry (an older one stops reading once the file changed). */
async function opfsFile(name: string): Promise<File> {
  const root = await navigator.storage.getDirectory();
  return (await root.getFileHandle(name)).getFile();
}

function message(err: unknown): string {
  return formatError(err instanceof TaskError ? err.report : reportError(err));
}

function fill(body: HTMLTableSectionElement, rows: string[][]): void {
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement('tr');
      cells.forEach((text, i) => {
        const cell = document.createElement(i === 0 ? 'th' : 'td');
        cell.textContent = text;
        tr.append(cell);
      });
      return tr;
    }),
  );
}
