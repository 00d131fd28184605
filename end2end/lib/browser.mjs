// Launches Debian's Chromium headless with WebGL2 (SwiftShader) through playwright-core.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const chromiumPath = process.env.GESTALT_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser() {
  // launchPersistentContext is what takes a --user-data-dir; a fresh one per run keeps runs independent.
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'gestalt-e2e-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless=new',
      '--no-sandbox',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return context;
}

// Collects console errors and uncaught page errors so a test can assert there were none.
export function watchConsole(page) {
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  return errors;
}
