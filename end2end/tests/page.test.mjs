// The live page's panels, end to end: table → inspector, filters ↔ URL, kiosk, and an axe-core scan.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchBrowser, watchConsole } from '../lib/browser.mjs';
import { repoRoot, startServer } from '../lib/server.mjs';

const screenshots = path.join(repoRoot, 'end2end', 'screenshots');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let server;
let browser;

before(async () => {
  server = await startServer(['demo']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function open(query = '') {
  const page = await browser.newPage();
  const errors = watchConsole(page);
  const response = await page.goto(`${server.url}/gestalt/live${query}`);
  assert.equal(response.status(), 200);
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  await page.locator('canvas[data-drawn="true"]').waitFor({ timeout: 30_000 });
  return { page, errors };
}

// axe-core is injected as source (the page's CSP forbids inline scripts, evaluate is not one), then run.
async function axe(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const { violations } = await window.axe.run(document, { resultTypes: ['violations'] });
    return violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

test('a table row selects its entity and the inspector shows it and its relations', async () => {
  const { page, errors } = await open();
  await page.locator('#toggle-table').click();
  const table = page.locator('#table-view table');
  await table.waitFor();
  assert.match(await table.locator('caption').innerText(), /^\d+ entities, page 1 of \d+$/);
  const rows = await table.locator('tbody tr').count();
  assert.ok(rows > 0 && rows <= 50, `${rows} rows on a page`);

  // Sorting by kind announces itself.
  await table.locator('thead th', { hasText: 'Kind' }).locator('button').click();
  assert.equal(await table.locator('thead th', { hasText: 'Kind' }).getAttribute('aria-sort'), 'ascending');

  const pod = table.locator('tbody tr', { has: page.locator('td', { hasText: /^pod$/ }) }).first();
  await pod.waitFor();
  const name = await pod.locator('.gl-row-select').innerText();
  await pod.locator('.gl-row-select').focus();
  await page.keyboard.press('Enter');
  const inspector = page.locator('#inspector');
  await inspector.waitFor();
  assert.equal(await inspector.locator('#inspector-name').innerText(), name);
  assert.equal(await inspector.locator('#inspector-kind').innerText(), 'pod');
  assert.ok((await inspector.locator('.gl-relation').count()) > 0, 'the pod has relations');
  assert.match(page.url(), /[?&]sel=[^&]*pod/);

  // A relation selects the other end; Esc closes.
  const target = await inspector.locator('.gl-relation').first().innerText();
  await inspector.locator('.gl-relation').first().click();
  assert.ok(target.endsWith(await inspector.locator('#inspector-name').innerText()));
  await inspector.locator('button', { hasText: 'Close' }).focus();
  await page.keyboard.press('Escape');
  await inspector.waitFor({ state: 'detached' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the inspector shows the recent Kubernetes events of the selected entity, warnings marked', async () => {
  const { page, errors } = await open();
  // The demo's crash-looping pod is in the HUD's attention list; its events say why.
  const crashing = page.locator('.gl-attention button', { hasText: /^pod .*agent-runner/ }).first();
  await crashing.click();
  const events = page.locator('#inspector-events li');
  await events.first().waitFor({ timeout: 15_000 });
  const texts = await events.allInnerTexts();
  assert.ok(texts.length <= 8, `at most 8 events: ${texts.length}`);
  assert.ok(texts.some((t) => /^⚠ BackOff ×\d+ · \d+[smhd] ago/.test(t)), `a back-off warning among ${JSON.stringify(texts)}`);
  assert.equal(await page.locator('#inspector-events li.gl-event-warning').count() > 0, true);
  // Another selection brings its own events, never the previous entity's.
  await page.locator('.gl-attention button', { hasText: /^service / }).first().click();
  await page.locator('#inspector-events li, #inspector p.gl-muted').first().waitFor();
  await page.waitForFunction(() => !document.querySelector('#inspector')?.innerText.includes('BackOff'), null, { timeout: 15_000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('] and [ on the focused map walk through what needs attention, worst first, and wrap', async () => {
  const { page, errors } = await open();
  const listed = await page.locator('.gl-attention button').allInnerTexts();
  assert.ok(listed.length >= 2, `the demo has trouble to walk: ${listed}`);
  const name = () => page.locator('#inspector-name').innerText();
  await page.locator('canvas').focus();
  await page.keyboard.press(']');
  await page.locator('#inspector').waitFor();
  assert.equal(await name(), listed[0].split('/').pop());
  await page.keyboard.press(']');
  await page.waitForFunction((n) => document.querySelector('#inspector-name')?.textContent === n, listed[1].split('/').pop());
  await page.keyboard.press('[');
  await page.waitForFunction((n) => document.querySelector('#inspector-name')?.textContent === n, listed[0].split('/').pop());
  await page.keyboard.press('[');
  // Backwards from the first wraps to the last of all (beyond the HUD's few).
  await page.waitForFunction((n) => document.querySelector('#inspector-name')?.textContent !== n, listed[0].split('/').pop());
  assert.match(page.url(), /[?&]sel=/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('filters set in the panel go to the URL and come back after a reload', async () => {
  const { page, errors } = await open();
  const namespaces = await page.locator('#filter-ns option').allInnerTexts();
  const namespace = namespaces.find((n) => n !== 'all');
  await page.locator('#filter-ns').selectOption(namespace);
  await page.locator('#filter-kind').selectOption('pod');
  await page.locator('#filter-q').fill('app=nothing-has-this');
  await page.locator('#filter-q').fill('a');
  await page.waitForFunction(() => location.search.includes('q=a'));
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('ns'), namespace);
  assert.equal(url.searchParams.get('kind'), 'pod');
  assert.equal(url.searchParams.get('q'), 'a');
  const history = await page.evaluate(() => history.length);

  await page.reload();
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('#filter-ns').inputValue(), namespace);
  assert.equal(await page.locator('#filter-kind').inputValue(), 'pod');
  assert.equal(await page.locator('#filter-q').inputValue(), 'a');
  await page.locator('.gl-filter-count', { hasText: /^\d+ shown$/ }).waitFor();
  // replaceState, not pushState: typing did not add history entries.
  assert.ok(history <= 2, `history grew to ${history}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('kiosk mode hides the chrome', async () => {
  const { page, errors } = await open('?kiosk=1');
  for (const selector of ['header.gl-header', '.gl-panels', 'footer.gl-status']) {
    assert.equal(await page.locator(selector).isVisible(), false, `${selector} is visible in kiosk mode`);
  }
  assert.ok(await page.locator('canvas').isVisible());
  if (process.env.GESTALT_SCREENSHOTS !== '0') {
    mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: path.join(screenshots, 'kiosk.png') });
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('axe-core finds no serious or critical violations in the normal, table and kiosk views', async () => {
  for (const query of ['', '?view=table', '?kiosk=1']) {
    const { page } = await open(query);
    if (query === '?view=table') {
      await page.locator('#table-view tbody tr').first().waitFor();
      await page.locator('.gl-row-select').first().click();
      await page.locator('#inspector').waitFor();
    }
    const violations = await axe(page);
    assert.deepEqual(violations, [], `${query || 'normal'}: ${JSON.stringify(violations, null, 1)}`);
    await page.close();
  }
});
