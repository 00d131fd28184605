// The live page, end to end: real server binary, real Chromium, real WebGL2.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pngjs from 'pngjs';

import { launchBrowser, watchConsole } from '../lib/browser.mjs';
import { repoRoot, startDemoWithKubectl, startServer } from '../lib/server.mjs';

const { PNG } = pngjs;
const screenshots = path.join(repoRoot, 'end2end', 'screenshots');
// The scene's clear colour (scene::renderer::BACKGROUND) in 8-bit sRGB.
const BACKGROUND = [18, 20, 28];

let server;
// kubectl against the demo's simulated cluster: the tests change it as an operator would.
let kubectl;
let browser;

before(async () => {
  ({ server, kubectl } = await startDemoWithKubectl());
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  const code = await server?.stop();
  // SIGTERM must be a graceful exit, not a crash.
  assert.equal(code, 0, `server did not exit cleanly:\n${server?.log()}`);
});

test('the live page hydrates, draws the simulated kgents cluster in WebGL2 and logs no errors', async () => {
  const page = await browser.newPage();
  const errors = watchConsole(page);
  const response = await page.goto(`${server.url}/gestalt/live`);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), 'Gestalt Live');

  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  await page.locator('canvas[data-drawn="true"]').waitFor({ timeout: 30_000 });

  const webgl2 = await page.evaluate(() => !!document.createElement('canvas').getContext('webgl2'));
  assert.ok(webgl2, 'this Chromium has no WebGL2: check the flags in end2end/lib/browser.mjs');

  // The status line is written by the wasm after the topology loaded: proof the client code ran.
  const status = await page.locator('[role="status"]').innerText();
  assert.match(status, /^health [A-F][+-]? \(\d+\.\d%\) · \d+ namespaces · 21 services · 7 deployments · 22 pods · 3 nodes$/);

  // Non-background pixels on the canvas, in more than one colour: the instanced meshes were drawn. The legend
  // floats over the canvas in the same colours, so it is hidden for the measurement.
  const hidden = await hideLegend(page);
  const png = PNG.sync.read(await page.locator('canvas').screenshot());
  let drawn = 0;
  const colours = new Set();
  for (let i = 0; i < png.data.length; i += 4) {
    const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
    const distance = Math.abs(r - BACKGROUND[0]) + Math.abs(g - BACKGROUND[1]) + Math.abs(b - BACKGROUND[2]);
    if (distance > 40) {
      drawn += 1;
      colours.add(`${r >> 5},${g >> 5},${b >> 5}`);
    }
  }
  const share = drawn / (png.width * png.height);
  assert.ok(share > 0.005, `only ${(share * 100).toFixed(2)}% of the canvas was drawn`);
  assert.ok(colours.size >= 3, `expected several health colours, saw ${colours.size} colour buckets`);

  // The README's screenshot comes from the release build; other runs (the wasm fallback) leave it alone.
  await hidden.restore();
  if (process.env.GESTALT_SCREENSHOTS !== '0') {
    mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: path.join(screenshots, 'live.png') });
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('an unknown path is a 404 page that links to the live map', async () => {
  const page = await browser.newPage();
  const response = await page.goto(`${server.url}/no/such/page`);
  assert.equal(response.status(), 404);
  assert.match(await page.locator('h1').innerText(), /404/);
  assert.equal(await page.locator('a[href="/gestalt/live"]').count(), 1);
  await page.close();
});

test('health and readiness endpoints answer', async () => {
  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 200);
  const ready = await fetch(`${server.url}/readyz`);
  assert.equal(ready.status, 200);
});

test('the root redirects to the live map', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForURL(/\/gestalt\/live$/);
  await page.close();
});

test('the page is live over the WebSocket and follows a pod created and deleted with kubectl', async () => {
  const page = await browser.newPage();
  const errors = watchConsole(page);
  await page.goto(`${server.url}/gestalt/live`);
  await page.locator('.gl-link[data-state="live"]').waitFor({ timeout: 30_000 });
  const status = page.locator('[role="status"]');
  await waitForText(status, / 22 pods /);

  const pod = JSON.stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'e2e-live', namespace: 'kgents-triad' },
    spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] },
  });
  const canvas = page.locator('canvas');
  const entities = Number(await canvas.getAttribute('data-entities'));
  kubectl(['create', '-f', '-'], pod);
  // The bound: in the scene within 1 s of the API server having it (kubectl has returned).
  const created = Date.now();
  await page.waitForFunction((n) => Number(document.querySelector('canvas').dataset.entities) === n, entities + 1, { timeout: 10_000 });
  const appeared = Date.now() - created;
  console.log(`# pod in the scene ${appeared} ms after kubectl create returned`);
  assert.ok(appeared <= 1_000, `the pod took ${appeared} ms to reach the scene`);
  await waitForText(status, / 23 pods /);
  kubectl(['delete', 'pod', '-n', 'kgents-triad', 'e2e-live', '--grace-period=0', '--wait=false']);
  await page.waitForFunction((n) => Number(document.querySelector('canvas').dataset.entities) === n, entities, { timeout: 10_000 });
  await waitForText(status, / 22 pods /);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a page whose server restarts says so, with the time it went stale, then goes live again', async () => {
  const port = await freePort();
  let own = await startServer(['demo'], { listen: `127.0.0.1:${port}` });
  const page = await browser.newPage();
  try {
    await page.goto(`${own.url}/gestalt/live`);
    const badge = page.locator('.gl-link');
    await page.locator('.gl-link[data-state="live"]').waitFor({ timeout: 30_000 });
    assert.equal(await own.stop(), 0);
    await page.locator('.gl-link[data-state="reconnecting"]').waitFor({ timeout: 10_000 });
    assert.match(await badge.innerText(), /reconnecting \(attempt \d+\) · stale since \d\d:\d\d:\d\d · data \d+ s old/);
    own = await startServer(['demo'], { listen: `127.0.0.1:${port}` });
    await page.locator('.gl-link[data-state="live"]').waitFor({ timeout: 30_000 });
    await waitForText(page.locator('[role="status"]'), / 22 pods /);
  } finally {
    await page.close();
    await own.stop();
  }
});

// Through the CSSOM: the page's CSP (rightly) refuses an injected <style> element.
async function hideLegend(page) {
  await page.evaluate(() => { document.querySelector('.gl-legend').style.display = 'none'; });
  return { restore: () => page.evaluate(() => { document.querySelector('.gl-legend').style.display = ''; }) };
}

async function waitForText(locator, pattern, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let text = '';
  while (Date.now() < deadline) {
    text = await locator.innerText();
    if (pattern.test(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`"${text}" never matched ${pattern}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const listener = createServer();
    listener.listen(0, '127.0.0.1', () => {
      const { port } = listener.address();
      listener.close(() => resolve(port));
    });
    listener.on('error', reject);
  });
}

test('unhealthy entities pulse, and with reduced motion the scene holds still', async () => {
  const frames = async (reducedMotion) => {
    const page = await browser.newPage();
    await page.emulateMedia({ reducedMotion });
    await page.goto(`${server.url}/gestalt/live`);
    await page.locator('canvas[data-drawn="true"]').waitFor({ timeout: 30_000 });
    await hideLegend(page);
    await page.waitForTimeout(500);
    const canvas = page.locator('canvas');
    const shots = [];
    for (let i = 0; i < 4; i += 1) {
      shots.push(PNG.sync.read(await canvas.screenshot()));
      await page.waitForTimeout(250);
    }
    await page.close();
    // Pixels that differ between consecutive shots, summed.
    let changed = 0;
    for (let s = 1; s < shots.length; s += 1) changed += differing(shots[s - 1], shots[s]);
    return { changed, last: shots[shots.length - 1] };
  };
  const differing = (a, b) => {
    let n = 0;
    for (let i = 0; i < a.data.length; i += 4) {
      const d = Math.abs(a.data[i] - b.data[i]) + Math.abs(a.data[i + 1] - b.data[i + 1]) + Math.abs(a.data[i + 2] - b.data[i + 2]);
      if (d > 30) n += 1;
    }
    return n;
  };
  const moving = await frames('no-preference');
  const still = await frames('reduce');
  assert.ok(moving.changed > 20, `the crash-looping pods should pulse: ${moving.changed} pixels changed`);
  assert.equal(still.changed, 0, `reduced motion: ${still.changed} pixels changed`);
  // The scene draws what holds still and what pulses with separate meshes: with motion, the picture is the
  // reduced-motion one but for the pulsing entities, so nothing still went missing or was drawn twice.
  const [w, h] = [still.last.width, still.last.height];
  const background = new PNG({ width: w, height: h });
  // The background: the commonest colour.
  const counts = new Map();
  for (let i = 0; i < still.last.data.length; i += 4) {
    const key = still.last.data.readUIntBE(i, 3);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const commonest = [...counts.entries()].reduce((a, c) => (c[1] > a[1] ? c : a))[0];
  const [r, g, b] = [commonest >> 16, (commonest >> 8) & 255, commonest & 255];
  for (let i = 0; i < background.data.length; i += 4) background.data.set([r, g, b, 255], i);
  const drawn = differing(still.last, background);
  const apart = differing(moving.last, still.last);
  assert.ok(drawn > 1000, `the map is drawn: ${drawn} pixels`);
  assert.ok(apart < drawn * 0.25, `with motion the picture differs only where entities pulse: ${apart} of ${drawn} drawn pixels`);
});
