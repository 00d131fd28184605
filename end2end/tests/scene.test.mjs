// The 3D scene's input, end to end: picking with the mouse, the keyboard camera, dragging. Reduced motion makes
// camera moves instant and stops the pulse, so screenshots compare exactly.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pngjs from 'pngjs';

import { launchBrowser, watchConsole } from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';

const { PNG } = pngjs;
// The scene's clear colour (scene::renderer::BACKGROUND) in 8-bit sRGB.
const BACKGROUND = [18, 20, 28];

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

async function openStill() {
  const page = await browser.newPage();
  const errors = watchConsole(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto(`${server.url}/gestalt/live`);
  await page.locator('canvas[data-drawn="true"]').waitFor({ timeout: 30_000 });
  // The legend, HUD and panels float over the canvas and change on their own (the findings panel polls): hidden
  // through the CSSOM (the CSP refuses injected styles), so screenshots compare only the scene.
  await page.evaluate(() => {
    for (const el of document.querySelectorAll('main > :not(canvas)')) el.style.visibility = 'hidden';
    // The scene's labels set their own visibility, which would win over their layer's: take the layer out.
    document.querySelector('#scene-labels').style.display = 'none';
  });
  await page.waitForTimeout(300);
  return { page, errors, canvas: page.locator('canvas') };
}

// Panels that open on their own (the inspector, on a selection) are hidden again before every shot.
async function shot(canvas) {
  await canvas.page().evaluate(() => {
    for (const el of document.querySelectorAll('main > :not(canvas)')) el.style.visibility = 'hidden';
    // The scene's labels set their own visibility, which would win over their layer's: take the layer out.
    document.querySelector('#scene-labels').style.display = 'none';
  });
  return PNG.sync.read(await canvas.screenshot());
}

// An entity's pixel: far from the background. The floors under the bands are drawn too, but only a little
// lighter than the background (a difference of 25–65) and not pickable, so they count as background here.
const isDrawn = (png, x, y) => {
  const i = (y * png.width + x) * 4;
  const d = png.data;
  return Math.abs(d[i] - BACKGROUND[0]) + Math.abs(d[i + 1] - BACKGROUND[1]) + Math.abs(d[i + 2] - BACKGROUND[2]) > 100;
};

// Points (CSS pixels, the screenshot is at device scale 1) whose whole neighbourhood of radius r is drawn
// (`drawn` true) or background (`drawn` false), scanning from the centre outwards.
function* points(png, drawn, r) {
  const cx = png.width >> 1;
  const cy = png.height >> 1;
  for (let ring = 0; ring < Math.max(png.width, png.height); ring += 3) {
    for (let dy = -ring; dy <= ring; dy += 3) {
      for (let dx = -ring; dx <= ring; dx += 3) {
        if (Math.max(Math.abs(dx), Math.abs(dy)) !== ring) continue;
        const [x, y] = [cx + dx, cy + dy];
        if (x < r || y < r || x >= png.width - r || y >= png.height - r) continue;
        let ok = true;
        for (let oy = -r; oy <= r && ok; oy += 1) {
          for (let ox = -r; ox <= r && ok; ox += 1) ok = isDrawn(png, x + ox, y + oy) === drawn;
        }
        if (ok) yield { x, y };
      }
    }
  }
}

function findPoint(png, drawn, r) {
  return points(png, drawn, r).next().value ?? null;
}

// Summed over the canvas but its outer 4 pixels (where a focus ring may be drawn) and, when given, a square of
// half-side `around.r` around `around` (where the selected entity grows).
function brightness(png, around = { x: -1e9, y: -1e9, r: 0 }) {
  let sum = 0;
  for (let y = 4; y < png.height - 4; y += 1) {
    for (let x = 4; x < png.width - 4; x += 1) {
      if (Math.abs(x - around.x) <= around.r && Math.abs(y - around.y) <= around.r) continue;
      const i = (y * png.width + x) * 4;
      sum += png.data[i] + png.data[i + 1] + png.data[i + 2];
    }
  }
  return sum;
}

function changedPixels(a, b) {
  let changed = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const d = Math.abs(a.data[i] - b.data[i]) + Math.abs(a.data[i + 1] - b.data[i + 1]) + Math.abs(a.data[i + 2] - b.data[i + 2]);
    if (d > 30) changed += 1;
  }
  return changed;
}

test('a click picks the entity under it, dims everything outside its chain, and Escape or the background clears it', async () => {
  const { page, errors, canvas } = await openStill();
  const before = await shot(canvas);
  const target = findPoint(before, true, 3);
  assert.ok(target, 'no entity drawn large enough to click');
  await canvas.click({ position: target });
  await page.locator('canvas[data-selected]').waitFor({ timeout: 5_000 });
  const id = await canvas.getAttribute('data-selected');
  assert.match(id, /\//, `an entity id: ${id}`);
  // The pick opens the inspector on the same entity.
  const inspector = page.locator('#inspector');
  await inspector.waitFor({ state: 'attached', timeout: 5_000 });
  assert.equal(await inspector.locator('#inspector-name').textContent(), id.split('/').pop());
  assert.equal(await inspector.locator('#inspector-kind').textContent(), id.split('/')[1]);
  // The chain is computed after the selection lands (an effect), so the dimmed picture may take a few frames,
  // more on the debug wasm of the fallback toolchain.
  // Away from the selection, which grows: the rest of its chain keeps its brightness, everything else dims.
  const away = { ...target, r: 80 };
  const lit = brightness(before, away);
  let dimmed = false;
  for (let i = 0; i < 40 && !dimmed; i += 1) {
    await page.waitForTimeout(250);
    dimmed = brightness(await shot(canvas), away) < lit;
  }
  assert.ok(dimmed, 'what is outside the selection\'s chain is dimmed');

  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.querySelector('canvas').hasAttribute('data-selected'), null, { timeout: 5_000 });

  await canvas.click({ position: target });
  await page.locator('canvas[data-selected]').waitFor({ timeout: 5_000 });
  const empty = findPoint(before, false, 20);
  assert.ok(empty, 'no empty background to click');
  await canvas.click({ position: empty });
  await page.waitForFunction(() => !document.querySelector('canvas').hasAttribute('data-selected'), null, { timeout: 5_000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the keyboard zooms and orbits the focused map, and R brings the overview back', async () => {
  const { page, errors, canvas } = await openStill();
  await canvas.focus();
  const overview = await shot(canvas);
  for (let i = 0; i < 4; i += 1) await page.keyboard.press('+');
  await page.keyboard.press('ArrowLeft');
  await page.waitForTimeout(300);
  const moved = await shot(canvas);
  const total = overview.width * overview.height;
  assert.ok(changedPixels(overview, moved) > total * 0.01, 'zoom and orbit changed the picture');
  await page.keyboard.press('r');
  await page.waitForTimeout(300);
  const back = await shot(canvas);
  assert.ok(changedPixels(overview, back) < total * 0.002, `reset: ${changedPixels(overview, back)} pixels differ`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('dragging orbits the map and is not taken for a click', async () => {
  const { page, errors, canvas } = await openStill();
  const before = await shot(canvas);
  const box = await canvas.boundingBox();
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  await page.mouse.move(x, y);
  await page.mouse.down();
  for (let i = 1; i <= 10; i += 1) await page.mouse.move(x + i * 12, y + i * 3);
  await page.mouse.up();
  await page.waitForTimeout(300);
  const after = await shot(canvas);
  assert.ok(changedPixels(before, after) > before.width * before.height * 0.01, 'the drag turned the map');
  assert.equal(await canvas.getAttribute('data-selected'), null, 'a drag selects nothing');
  assert.deepEqual(errors, []);
  await page.close();
});

test('hovering an entity shows its name and status beside the pointer; leaving hides it', async () => {
  const { page, canvas } = await openStill();
  const png = await shot(canvas);
  const box = await canvas.boundingBox();
  // Entities are small: try drawn points from the centre out until one is under the pointer.
  const tooltip = page.locator('#tooltip');
  // Drawn is not always pickable (a badge floats above its entity): try drawn points until one hovers.
  let point = null;
  let tried = 0;
  for (const candidate of points(png, true, 2)) {
    if (tried === 25) break;
    if (point && Math.abs(candidate.x - point.x) + Math.abs(candidate.y - point.y) < 12) continue;
    tried += 1;
    point = candidate;
    await page.mouse.move(box.x + point.x, box.y + point.y);
    if (await tooltip.waitFor({ timeout: 700 }).then(() => true, () => false)) break;
  }
  await tooltip.waitFor({ timeout: 5_000 });
  assert.match(await tooltip.innerText(), /^\S+ \S+\n(healthy|degraded|unhealthy|unknown)/);
  assert.equal(await tooltip.getAttribute('role'), 'tooltip');
  const background = findPoint(png, false, 12);
  await page.mouse.move(box.x + background.x, box.y + background.y);
  await tooltip.waitFor({ state: 'detached', timeout: 5_000 });
  await page.mouse.move(box.x + point.x, box.y + point.y);
  await tooltip.waitFor({ timeout: 5_000 });
  await page.mouse.move(box.x - 5, box.y - 5);
  await tooltip.waitFor({ state: 'detached', timeout: 5_000 });
  await page.close();
});

test('namespace bands and layers are named over the map, and the names follow the camera', async () => {
  const { page, canvas } = await openStill();
  // openStill hid the overlays for screenshots; the labels are what this test looks at.
  await page.evaluate(() => { document.querySelector('#scene-labels').style.display = ''; });
  const visible = (selector) => page.locator(selector).evaluateAll((els) => els
    .filter((e) => getComputedStyle(e).visibility === 'visible')
    .map((e) => ({ text: e.textContent, box: e.getBoundingClientRect().toJSON() })));
  const bands = await visible('.gl-label-band');
  const names = bands.map((b) => b.text);
  for (const ns of ['kgents-triad', 'kgents-agents', 'cluster-scoped']) assert.ok(names.includes(ns), `${ns} in ${names}`);
  const layers = (await visible('.gl-label-layer')).map((l) => l.text);
  for (const layer of ['pods', 'nodes', 'services', 'workloads']) assert.ok(layers.includes(layer), `${layer} in ${layers}`);
  // No two visible band names overlap.
  const sorted = bands.map((b) => b.box).sort((a, b) => a.x - b.x);
  for (let i = 1; i < sorted.length; i += 1) {
    if (Math.abs(sorted[i].y - sorted[i - 1].y) < sorted[i].height) assert.ok(sorted[i].x >= sorted[i - 1].right, 'overlap');
  }
  const before = bands.find((b) => b.text === 'kgents-triad').box;
  await canvas.focus();
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction((x) => {
    const label = [...document.querySelectorAll('.gl-label-band')].find((e) => e.textContent === 'kgents-triad');
    return Math.abs(label.getBoundingClientRect().x - x) > 5;
  }, before.x, { timeout: 5_000 });
  await page.close();
});
