// Chromium for the browser tests: Debian's /usr/bin/chromium driven by
// playwright-core from the runtime harness (test/runtimes/package.json).
// Locally a missing piece skips with a message; under CI=true it fails.
import { existsSync } from 'node:fs';
import type { Browser, BrowserType, LaunchOptions } from 'playwright-core';
import { afterAll, beforeAll, describe, it } from 'vitest';

export const IN_CI = process.env.CI === 'true';
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Launch options: the system binary (nothing is ever downloaded), no sandbox (tests run as root). */
export const LAUNCH: LaunchOptions = { executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] };

/** playwright-core's chromium, or why it cannot run here. */
export async function findChromium(): Promise<{ chromium: BrowserType } | { missing: string }> {
  if (!existsSync(CHROMIUM_PATH)) return { missing: `${CHROMIUM_PATH} not found (apt-get install chromium)` };
  try {
    const { chromium } = await import('playwright-core');
    return { chromium };
  } catch {
    return { missing: 'playwright-core not installed (npm ci --prefix test/runtimes)' };
  }
}

/** describe() over a launched browser: skips visibly locally, fails under CI, when Chromium is missing. */
export function describeChromium(
  found: Awaited<ReturnType<typeof findChromium>>,
  title: string,
  body: (browser: () => Browser) => void,
): void {
  if ('missing' in found) {
    if (IN_CI) {
      describe(title, () => {
        it('has Chromium and playwright-core (required under CI)', () => {
          throw new Error(`browser runtime missing under CI: ${found.missing}`);
        });
      });
    } else {
      console.warn(`[browser] skipping "${title}": ${found.missing}`);
      describe.skip(title, () => body(() => undefined as never));
    }
    return;
  }
  describe(title, () => {
    let browser: Browser | undefined;
    beforeAll(async () => {
      browser = await found.chromium.launch(LAUNCH);
    });
    afterAll(async () => {
      await browser?.close();
    });
    body(() => browser!);
  });
}
