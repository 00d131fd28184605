// The kiosk autopilot, end to end: something breaks in the cluster (through kubectl, against the demo's simulated
// API server), the wall flies to it with a caption, then returns to the overview.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, watchConsole } from '../lib/browser.mjs';
import { startDemoWithKubectl } from '../lib/server.mjs';

let server;
let kubectl;
let browser;

before(async () => {
  ({ server, kubectl } = await startDemoWithKubectl());
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the autopilot flies to what breaks, lights it with a caption, and returns to the overview', async () => {
  const page = await browser.newPage();
  const errors = watchConsole(page);
  // Reduced motion: flights are instant, so the test waits for states, not for animations.
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto(`${server.url}/gestalt/live?kiosk=1`);
  await page.locator('canvas[data-drawn="true"]').waitFor({ timeout: 30_000 });
  const pilot = page.locator('#autopilot');
  await pilot.waitFor({ state: 'attached' });
  // What was already broken when the wall came up is not toured.
  await page.waitForTimeout(1_500);
  assert.equal(await pilot.getAttribute('data-state'), 'overview');
  assert.equal(await page.locator('canvas').getAttribute('data-selected'), null);

  // A service whose endpoints are empty: unhealthy ("no endpoints").
  const name = `e2e-broken-${Date.now() % 100000}`;
  kubectl(['create', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'kgents-triad' },
    spec: { selector: { app: 'nothing-here' }, ports: [{ port: 80 }] },
  }));
  // The demo's simulated API server runs no endpoint controllers for what kubectl writes, so the test writes
  // what they would: an empty EndpointSlice (what the collector counts) and an empty Endpoints.
  kubectl(['create', '-f', '-'], JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${name}-e2e`, namespace: 'kgents-triad', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4', endpoints: [], ports: [{ port: 80, protocol: 'TCP' }],
  }));
  kubectl(['create', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: 'kgents-triad' }, subsets: [],
  }));

  await page.locator('#autopilot[data-state="showing"]').waitFor({ timeout: 20_000 });
  assert.match(await pilot.innerText(), new RegExp(`service kgents-triad/${name}\\n+no endpoints`));
  const selected = await page.locator('canvas').getAttribute('data-selected');
  assert.ok(selected?.endsWith(`/service/kgents-triad/${name}`), `selected ${selected}`);
  // The kiosk shows no inspector, only the caption.
  assert.equal(await page.locator('#inspector').count(), 0);

  // After its dwell it returns to the overview with nothing selected.
  await page.locator('#autopilot[data-state="overview"]').waitFor({ state: 'attached', timeout: 20_000 });
  await page.waitForFunction(() => !document.querySelector('canvas').hasAttribute('data-selected'));
  kubectl(['delete', 'service', '-n', 'kgents-triad', name, '--wait=false']);
  kubectl(['delete', 'endpointslice', '-n', 'kgents-triad', `${name}-e2e`, '--wait=false']);
  assert.deepEqual(errors, []);
  await page.close();
});
