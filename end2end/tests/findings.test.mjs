// The findings panel, end to end: a pod put into CrashLoopBackOff with kubectl opens a finding in the panel,
// its row selects the pod and shows the warning events behind it, the filters narrow the list, and deleting the
// pod moves the finding to the recent incidents.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchBrowser, watchConsole } from '../lib/browser.mjs';
import { repoRoot, startDemoWithKubectl } from '../lib/server.mjs';

const screenshots = path.join(repoRoot, 'end2end', 'screenshots');

const NS = 'kgents-triad';
const POD = 'e2e-crash';

let server;
let kubectl;
let browser;

before(async () => {
  // No grace period: a finding opens at the engine's next pass rather than after the default minute.
  ({ server, kubectl } = await startDemoWithKubectl(['--findings-grace-secs', '0']));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

function crashLooping() {
  kubectl(['create', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: POD, namespace: NS },
    spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] },
  }));
  // What the kubelet would write for a container that keeps exiting.
  const status = {
    status: {
      phase: 'Running',
      containerStatuses: [{
        name: 'main', image: 'busybox:1.36', imageID: '', ready: false, restartCount: 7,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s restarting failed container' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error' } },
      }],
    },
  };
  kubectl(['patch', 'pod', '-n', NS, POD, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
  kubectl(['create', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Event',
    metadata: { name: `${POD}.backoff`, namespace: NS },
    involvedObject: { kind: 'Pod', name: POD, namespace: NS },
    reason: 'BackOff', type: 'Warning', count: 12,
    message: 'Back-off restarting failed container main',
  }));
}

test('a crash-looping pod opens a finding that selects it, explains it, filters, and resolves when it goes', async () => {
  const page = await browser.newPage();
  const errors = watchConsole(page);
  await page.goto(`${server.url}/gestalt/live`);
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  const panel = page.locator('aside.gl-findings');
  // The demo starts with broken things of its own; the panel lists them and counts them.
  await panel.locator('li.gl-finding[data-open="true"]').first().waitFor({ timeout: 30_000 });
  const demoOpen = await panel.locator('li.gl-finding').count();
  assert.equal(await panel.locator('.gl-findings-count').innerText(), String(demoOpen));

  crashLooping();
  // The panel polls every 10 s; the engine looks every second.
  const row = panel.locator('li.gl-finding', { has: page.locator('.gl-finding-subject', { hasText: `pod ${NS}/${POD}` }) });
  await row.waitFor({ timeout: 30_000 });
  assert.equal(await row.getAttribute('data-open'), 'true');
  assert.match(await row.locator('.gl-finding-msg').innerText(), /CrashLoopBackOff/);
  assert.match(await row.locator('.gl-finding-meta').innerText(), /^crash-loop · P\d · for \d+[smhd]$/);
  const severity = await row.getAttribute('data-severity');
  assert.equal(await row.locator('.gl-sev').innerText(), severity);
  // The legend says what the marker this finding puts over the pod means, tier by tier.
  assert.deepEqual(await page.locator('ul.gl-legend-badges li').allInnerTexts(),
    ['Critical', 'High / unhealthy', 'Warning', 'Info']);
  assert.equal(await panel.locator('.gl-findings-count').innerText(), String(demoOpen + 1));

  // The text filter narrows to this pod; a minimum severity above the finding's hides it.
  await panel.getByLabel('Filter findings').fill(POD);
  assert.equal(await panel.locator('li.gl-finding').count(), 1);
  await panel.getByLabel('Minimum severity').selectOption('CRITICAL');
  if (severity === 'CRITICAL') {
    assert.equal(await panel.locator('li.gl-finding').count(), 1);
  } else {
    await panel.locator('li.gl-findings-empty', { hasText: 'Nothing wrong right now.' }).waitFor();
  }
  await panel.getByLabel('Minimum severity').selectOption('INFO');

  // The row selects the pod (inspector, URL) and unfolds the warning events that explain it.
  const head = row.locator('button.gl-finding-head');
  assert.equal(await head.getAttribute('aria-expanded'), 'false');
  await head.click();
  assert.equal(await head.getAttribute('aria-expanded'), 'true');
  await page.locator('#inspector-name', { hasText: POD }).waitFor();
  assert.match(page.url(), new RegExp(`[?&]sel=[^&]*${POD}`));
  await row.locator('ul.gl-finding-events li', { hasText: /BackOff ×\d+: Back-off restarting failed container main/ })
    .waitFor({ timeout: 30_000 });
  await panel.getByLabel('Filter findings').fill('');
  // The README's picture of the panel: every open finding, this one unfolded (release builds only, as live.png).
  if (process.env.GESTALT_SCREENSHOTS !== '0') {
    mkdirSync(screenshots, { recursive: true });
    await panel.screenshot({ path: path.join(screenshots, 'findings.png') });
  }
  await panel.getByLabel('Filter findings').fill(POD);

  // The pod goes: the finding leaves the open list and is among the recent incidents, resolved.
  kubectl(['delete', 'pod', '-n', NS, POD, '--grace-period=0', '--wait=false']);
  await panel.locator('li.gl-findings-empty', { hasText: 'Nothing wrong right now.' }).waitFor({ timeout: 30_000 });
  await panel.getByRole('tab', { name: 'Recent incidents' }).click();
  assert.equal(await panel.getByRole('tab', { name: 'Recent incidents' }).getAttribute('aria-selected'), 'true');
  const resolved = panel.locator('li.gl-finding[data-open="false"]', { has: page.locator('.gl-finding-subject', { hasText: `pod ${NS}/${POD}` }) });
  await resolved.waitFor();
  assert.match(await resolved.locator('.gl-finding-meta').innerText(), /resolved \d+[smhd] ago, lasted \d+[smhd]$/);
  await panel.getByLabel('Filter findings').fill('');
  await panel.getByRole('tab', { name: 'Open' }).click();
  assert.equal(await panel.locator('li.gl-finding').count(), demoOpen);
  assert.equal(await panel.locator('.gl-findings-count').innerText(), String(demoOpen));
  assert.deepEqual(errors, []);
  await page.close();
});
