// Driving the converter page (web/) from tests, as a person would: choose a
// file, pick where to save, press Convert (or Cancel), read the result line.
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { buildWeb } from '../../../web/build.mjs';
import { serveWithUploads, type UploadServer } from './uploads.js';

export type OutputChoice = 'download' | 'opfs' | 'picked';

/**
 * Replaces showSaveFilePicker before the page's scripts run, so no dialog
 * opens: it answers with an OPFS file handle named `picked-<suggested name>`,
 * whose createWritable() gives a real FileSystemWritableFileStream.
 */
const STUB_PICKER = `
  window.showSaveFilePicker = async (options) => {
    const root = await navigator.storage.getDirectory();
    return root.getFileHandle('picked-' + (options && options.suggestedName || 'out'), { create: true });
  };
`;

export interface Converter {
  page: Page;
  /** Uncaught errors and console errors seen so far. */
  problems: string[];
}

/** Opens the page in `context`; `picker` stubs showSaveFilePicker or removes it. */
export async function openConverter(
  context: BrowserContext,
  url: string,
  picker: 'stub' | 'none' | 'native' = 'native',
): Promise<Converter> {
  if (picker === 'stub') await context.addInitScript(STUB_PICKER);
  if (picker === 'none') await context.addInitScript('delete Window.prototype.showSaveFilePicker; delete window.showSaveFilePicker;');
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  // the Worker reports which outputs work before the first conversion
  await page.waitForFunction(() => !document.querySelector('.reason[data-for=opfs]')?.textContent?.includes('checking'));
  return { page, problems };
}

/** The page built into `<scratch>/site` and served for a suite, with one browser context per test. */
export interface ServedConverter {
  readonly site: UploadServer;
  /** A fresh context (its own OPFS) with the page open; closed after the test. */
  open(picker?: 'stub' | 'none' | 'native', height?: number): Promise<Converter>;
}

/** Registers the suite's hooks: build and serve before, close the context after each test and the server at the end. */
export function servedConverter(browser: () => Browser, scratch: string): ServedConverter {
  let site: UploadServer | undefined;
  let context: BrowserContext | undefined;
  beforeAll(async () => {
    const dist = join(scratch, 'site');
    await buildWeb(dist, { minify: false });
    site = await serveWithUploads(dist);
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });
  afterAll(async () => {
    await site?.server.close();
  });
  return {
    get site() {
      if (!site) throw new Error('the page is not served yet');
      return site;
    },
    async open(picker = 'native', height = 1000) {
      context = await browser().newContext({ viewport: { width: 900, height } });
      return openConverter(context, this.site.server.url, picker);
    },
  };
}

/** Sets the file input and waits until the page has shown what the file is. */
export async function chooseFile(page: Page, path: string): Promise<void> {
  await page.setInputFiles('#file', path);
  await page.waitForFunction(
    (name) => document.getElementById('file-name')?.textContent === name && !document.getElementById('convert')!.hidden,
    path.split('/').pop(),
  );
}

/** The info list as term -> value. */
export async function infoList(page: Page): Promise<Record<string, string>> {
  return page.$$eval('#info dt', (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling?.textContent ?? ''])));
}

/** Presses Convert with the given output; resolves when it has started. */
export async function startConversion(page: Page, output: OutputChoice, blockSizeMiB?: number): Promise<void> {
  await page.check(`input[name=output][value=${output}]`);
  if (blockSizeMiB) await page.selectOption('#block-size', String(blockSizeMiB));
  await page.click('#start');
}

/** Waits for the result line to settle; returns its state and text. */
export async function result(page: Page): Promise<{ state: string; text: string }> {
  await page.waitForFunction(
    () => ['done', 'error', 'cancelled'].includes(document.getElementById('result')!.dataset.state ?? ''),
    undefined,
    {
      timeout: 60_000,
    },
  );
  return page.$eval('#result', (el) => ({ state: (el as HTMLElement).dataset.state!, text: el.textContent! }));
}

/** Hands an OPFS file of the page's origin to Node through the test server's upload route. */
export async function readOpfs(page: Page, server: UploadServer, name: string): Promise<Buffer> {
  await page.evaluate(async (name) => {
    const root = await navigator.storage.getDirectory();
    const file = await (await root.getFileHandle(name)).getFile();
    const res = await fetch(`/upload/${encodeURIComponent(name)}`, { method: 'PUT', body: file });
    if (!res.ok) throw new Error(`upload ${res.status}`);
  }, name);
  return server.uploads.get(name)!;
}

/** Every OPFS file of the page's origin: name, size and its first 8 bytes as text. */
export async function opfsFiles(page: Page): Promise<{ name: string; size: number; head: string }[]> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const out: { name: string; size: number; head: string }[] = [];
    for await (const [name, handle] of root as unknown as AsyncIterable<[string, FileSystemFileHandle]>) {
      const file = await handle.getFile();
      out.push({ name, size: file.size, head: new TextDecoder('latin1').decode(await file.slice(0, 8).arrayBuffer()) });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  });
}

/** Puts a file of the page's origin into OPFS holding `text` (created, or its content replaced): a file the user had there. */
export async function putOpfs(page: Page, name: string, text: string): Promise<void> {
  await page.evaluate(
    async ([name, text]) => {
      const root = await navigator.storage.getDirectory();
      const w = await (await root.getFileHandle(name, { create: true })).createWritable();
      await w.write(new TextEncoder().encode(text));
      await w.close();
    },
    [name, text] as const,
  );
}
