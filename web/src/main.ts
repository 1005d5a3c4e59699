// The page: choose or drop a file, see what it is and what a compaction would
// reclaim, convert it in a Worker; compact a VHDX kept in OPFS in place.
import { CompactPanel } from './compact-panel.js';
import { formatError, reportError } from './errors.js';
import { bytes, duration, rate } from './format.js';
import { drawMaps, infoRows, inspect, type Inspection } from './inspect.js';
import type { Direction, DoneReport, FromWorker, OutputKind, OutputRequest, ToWorker } from './protocol.js';
import { TaskClient } from './task-client.js';

/** showSaveFilePicker is Chromium-only and not in TypeScript's DOM library. */
type SavePicker = (options: { suggestedName?: string; types?: { description: string; accept: Record<string, string[]> }[] }) => Promise<FileSystemFileHandle>;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  drop: $('drop'),
  input: $<HTMLInputElement>('file'),
  details: $('details'),
  fileName: $('file-name'),
  info: $('info'),
  inspectError: $('inspect-error'),
  maps: $('maps'),
  virtualMap: $<HTMLCanvasElement>('virtual-map'),
  fileMap: $<HTMLCanvasElement>('file-map'),
  virtualScale: $('virtual-scale'),
  fileScale: $('file-scale'),
  convert: $('convert'),
  convertTitle: $('convert-title'),
  blockSizeRow: $('block-size-row'),
  blockSize: $<HTMLSelectElement>('block-size'),
  start: $<HTMLButtonElement>('start'),
  cancel: $<HTMLButtonElement>('cancel'),
  progress: $<HTMLProgressElement>('progress'),
  progressText: $('progress-text'),
  result: $('result'),
  opfsFiles: $('opfs-files'),
  opfsList: $('opfs-list'),
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let chosen: { file: File; found: Inspection; opfsName?: string } | undefined;
let busy = false;
let downloadUrl: string | undefined;
const tasks = new TaskClient(post);
const compactPanel = new CompactPanel(tasks, {
  isBusy: () => busy,
  setBusy,
  async reopen(file, name) {
    await listOpfs();
    await show(file, name);
  },
});

// --- which outputs this browser offers -------------------------------------------

function setOutputAvailable(kind: OutputKind, reason: string | undefined): void {
  const radio = document.querySelector<HTMLInputElement>(`input[name=output][value=${kind}]`)!;
  radio.disabled = reason !== undefined;
  if (radio.disabled && radio.checked) document.querySelector<HTMLInputElement>('input[name=output][value=download]')!.checked = true;
  const note = document.querySelector<HTMLElement>(`.reason[data-for=${kind}]`);
  if (note) note.textContent = reason ?? '';
}

function savePicker(): SavePicker | undefined {
  const picker = (window as unknown as { showSaveFilePicker?: SavePicker }).showSaveFilePicker;
  return typeof picker === 'function' ? picker.bind(window) : undefined;
}

setOutputAvailable('opfs', 'checking…');
setOutputAvailable(
  'picked',
  savePicker() ? undefined : window.isSecureContext ? 'this browser has no showSaveFilePicker' : 'needs https or localhost (showSaveFilePicker)',
);

// --- choosing a file ----------------------------------------------------------------

ui.input.addEventListener('change', () => {
  const file = ui.input.files?.[0];
  if (file) void choose(file);
});
ui.drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  ui.drop.classList.add('over');
});
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (event) => {
  event.preventDefault();
  ui.drop.classList.remove('over');
  const file = event.dataTransfer?.files[0];
  if (file) void choose(file);
});

async function choose(file: File, opfsName?: string): Promise<void> {
  if (busy) return;
  await show(file, opfsName);
}

/** Shows what `file` is (an OPFS file when `opfsName` is set) and what can be done with it. */
async function show(file: File, opfsName?: string): Promise<void> {
  chosen = undefined;
  showResult('', '');
  ui.details.hidden = false;
  ui.fileName.textContent = file.name;
  ui.info.replaceChildren();
  ui.maps.hidden = true;
  const found = await inspect(file);
  chosen = { file, found, ...(opfsName ? { opfsName } : {}) };
  for (const [term, value] of infoRows(found)) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    ui.info.append(dt, dd);
  }
  ui.inspectError.hidden = found.kind !== 'broken';
  ui.inspectError.textContent = found.kind === 'broken' ? found.error : '';
  if (found.kind === 'vhdx') {
    ui.maps.hidden = false;
    const scale = drawMaps(found, ui.virtualMap, ui.fileMap);
    ui.virtualScale.textContent = `(${scale.virtual})`;
    ui.fileScale.textContent = `(${scale.file})`;
  }
  compactPanel.show(file, found, opfsName);
  const direction = directionOf(found);
  ui.convert.hidden = false;
  ui.convertTitle.textContent = direction === 'to-vhdx' ? 'Convert to VHDX (dynamic, sparse)' : 'Convert to a raw disk image';
  ui.blockSizeRow.hidden = direction !== 'to-vhdx';
  const refusal = found.kind === 'broken' ? 'this file cannot be read' : found.kind === 'vhdx' && found.info.type === 'differencing' ? 'differencing disks need their parent, which is not supported yet' : undefined;
  ui.start.disabled = refusal !== undefined;
  if (refusal) showResult('error', `Cannot convert: ${refusal}.`);
}

function directionOf(found: Inspection): Direction {
  return found.kind === 'raw' ? 'to-vhdx' : 'to-raw';
}

function outputName(name: string, direction: Direction): string {
  const base = name.replace(/\.(raw|img|bin|dd|vhdx)$/i, '') || 'disk';
  const extension = direction === 'to-vhdx' ? 'vhdx' : 'raw';
  // a raw image named .vhdx must not be overwritten by its own conversion
  return `${base}.${extension}` === name ? `${base}-converted.${extension}` : `${base}.${extension}`;
}

// --- converting -----------------------------------------------------------------------

ui.start.addEventListener('click', () => void start());
ui.cancel.addEventListener('click', () => {
  ui.cancel.disabled = true;
  ui.progressText.textContent = 'cancelling…';
  post({ type: 'cancel' });
});

function post(message: ToWorker): void {
  worker.postMessage(message);
}

async function start(): Promise<void> {
  if (!chosen || busy) return;
  const { file, found, opfsName } = chosen;
  const direction = directionOf(found);
  const name = outputName(file.name, direction);
  const kind = document.querySelector<HTMLInputElement>('input[name=output]:checked')!.value as OutputKind;
  let output: OutputRequest;
  if (kind === 'picked') {
    // the browser's save dialog asks the user before it lets an existing file be chosen,
    // so a picked file is written as picked; into OPFS the Worker never replaces a file
    let handle: FileSystemFileHandle;
    try {
      const accept: Record<string, string[]> = direction === 'to-vhdx' ? { 'application/octet-stream': ['.vhdx'] } : { 'application/octet-stream': ['.raw', '.img'] };
      handle = await savePicker()!({ suggestedName: name, types: [{ description: direction === 'to-vhdx' ? 'VHDX disk' : 'Raw disk image', accept }] });
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError')) showResult('error', formatError(reportError(err)));
      return; // an AbortError: the user closed the dialog
    }
    output = { kind, name: handle.name, handle };
  } else {
    output = { kind, name };
  }
  setBusy(true);
  showResult('running', '');
  ui.progress.value = 0;
  ui.progressText.textContent = 'starting…';
  const blockSize = Number(ui.blockSize.value) * 1024 * 1024;
  post({
    type: 'start',
    file,
    direction,
    output,
    ...(opfsName ? { opfsInput: opfsName } : {}),
    ...(direction === 'to-vhdx' && blockSize ? { blockSize } : {}),
  });
}

function setBusy(on: boolean): void {
  busy = on;
  ui.start.disabled = on;
  ui.cancel.disabled = !on;
  ui.input.disabled = on;
  compactPanel.refresh();
}

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const message = event.data;
  if (tasks.handle(message)) return;
  switch (message.type) {
    case 'ready':
      setOutputAvailable('opfs', message.opfs.ok ? undefined : message.opfs.reason);
      compactPanel.setOpfs(message.opfs.ok, message.opfs.reason);
      if (message.opfs.ok) void listOpfs();
      break;
    case 'progress': {
      const fraction = message.total > 0 ? message.done / message.total : 0;
      ui.progress.value = fraction;
      ui.progressText.textContent = `${message.phase}: ${bytes(message.done)} of ${bytes(message.total)} (${Math.floor(fraction * 100)}%)`;
      break;
    }
    case 'done':
      setBusy(false);
      ui.progress.value = 1;
      ui.progressText.textContent = 'done';
      finished(message.report);
      break;
    case 'cancelled':
      setBusy(false);
      ui.progress.value = 0;
      ui.progressText.textContent = '';
      showResult('cancelled', `Cancelled; nothing was saved${message.note ? ` (${message.note})` : ''}.`);
      void listOpfs();
      break;
    case 'error':
      setBusy(false);
      ui.progressText.textContent = '';
      showResult('error', formatError(message.error));
      void listOpfs();
      break;
  }
};

worker.onerror = (event) => {
  setBusy(false);
  showResult('error', `Error: the conversion worker failed (${event.message || 'it could not be loaded'})`);
  tasks.failAll({ message: `the worker failed (${event.message || 'it could not be loaded'})` });
};

function finished(report: DoneReport): void {
  const where = report.kind === 'download' ? 'Downloaded' : report.kind === 'opfs' ? 'Saved to private storage (OPFS):' : 'Saved to';
  const kept = report.taken ? `; ${report.taken} was there already and is kept as it was` : '';
  const text = `${where} ${report.name} — ${bytes(report.size)} in ${duration(report.ms)}, ${rate(report.rawBytes, report.ms)}${kept}`;
  showResult('done', text);
  ui.result.dataset.read = report.read;
  if (report.blob) {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(report.blob);
    const link = document.createElement('a');
    link.href = downloadUrl;
    link.download = report.name;
    link.textContent = 'save again';
    ui.result.append(' ', link);
    link.click();
  }
  if (report.kind === 'opfs') void listOpfs();
}

function showResult(state: string, text: string): void {
  ui.result.dataset.state = state;
  ui.result.className = state === 'done' ? 'ok' : state === 'error' ? 'error' : '';
  ui.result.textContent = text;
}

// --- the OPFS listing -------------------------------------------------------------

async function listOpfs(): Promise<void> {
  let root: FileSystemDirectoryHandle;
  try {
    root = await navigator.storage.getDirectory();
  } catch {
    return;
  }
  const rows: HTMLLIElement[] = [];
  for await (const [name, handle] of root as unknown as AsyncIterable<[string, FileSystemHandle]>) {
    if (handle.kind !== 'file') continue;
    const file = await (handle as FileSystemFileHandle).getFile();
    const row = document.createElement('li');
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = `${name} · ${bytes(file.size)}`;
    row.append(label, button('Open', () => void choose(file, name)), button('Download', () => download(file, name)), button('Delete', async () => {
      await root.removeEntry(name);
      await listOpfs();
    }));
    rows.push(row);
  }
  ui.opfsList.replaceChildren(...rows);
  ui.opfsFiles.hidden = rows.length === 0;
}

function button(text: string, onClick: () => unknown): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.addEventListener('click', () => void onClick());
  return b;
}

function download(file: Blob, name: string): void {
  const url = URL.createObjectURL(file);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
