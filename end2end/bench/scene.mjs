// Benchmarks of the live page in headless Chromium (Debian's, software WebGL2), against `gestalt-live demo` on the
// simulated cluster. Prints `name value unit` lines on stdout, progress on stderr (see BENCHMARKS.md):
//
// - scene.first_frame_{1k,10k}_ms: navigation start → the first frame drawn with the whole topology (the canvas's
//   `data-drawn` turning true, recorded in the page by a MutationObserver), median of RUNS fresh page loads;
// - scene.frame_time_10k_ms / _p95_ms: requestAnimationFrame intervals over FRAME_SECS while the cluster churns
//   (200 changes a minute) and unhealthy entities pulse, so the scene rewrites its instances every frame;
// - scene.heap_1min_mb, scene.heap_end_mb, scene.heap_growth_pct: the page's JS heap after a forced GC, one minute
//   into a churning run and at its end (SCENE_HEAP_MINUTES, default 10, as the issue asks);
//   scene.wasm_memory_{1min,end}_mb: the wasm linear memory (it never shrinks, so growth there is the tell).
import { performance } from 'node:perf_hooks';

import { launchBrowser } from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';

const RUNS = Number(process.env.SCENE_RUNS ?? 5);
const FRAME_SECS = Number(process.env.SCENE_FRAME_SECS ?? 10);
const HEAP_MINUTES = Number(process.env.SCENE_HEAP_MINUTES ?? 10);
// Pods for about 1k and 10k entities (pods are about three quarters of the demo's entities).
const SIZES = [['1k', 750], ['10k', 7500]];

const log = (...args) => console.error('bench-scene:', ...args);
const print = (name, value, unit) => console.log(`${name} ${Number(value).toFixed(unit === 'pct' ? 1 : 2)} ${unit}`);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const quantile = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

// Records when the canvas first says it drew, relative to navigation start (performance.now's origin).
const firstFrameProbe = () => {
  new MutationObserver((_, observer) => {
    const canvas = document.querySelector('canvas[data-drawn="true"]');
    if (canvas) {
      window.__firstFrame = performance.now();
      window.__entities = Number(canvas.dataset.entities ?? 0);
      observer.disconnect();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-drawn'] });
};

async function open(browser, url) {
  const page = await browser.newPage();
  await page.addInitScript(firstFrameProbe);
  await page.goto(url);
  await page.waitForFunction(() => window.__firstFrame !== undefined, null, { timeout: 120_000 });
  return page;
}

async function renderer(page) {
  return page.evaluate(() => {
    const gl = document.createElement('canvas').getContext('webgl2');
    const info = gl?.getExtension('WEBGL_debug_renderer_info');
    return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : 'unknown';
  });
}

async function firstFrames(browser, label, pods) {
  const server = await startServer(['demo', '--scenario', `scale:${pods}`], { timeoutMs: 120_000 });
  try {
    const times = [];
    let entities = 0;
    for (let i = 0; i < RUNS; i += 1) {
      const page = await open(browser, `${server.url}/gestalt/live`);
      times.push(await page.evaluate(() => window.__firstFrame));
      entities = await page.evaluate(() => Number(document.querySelector('canvas').dataset.entities));
      if (i === 0) log(`WebGL renderer: ${await renderer(page)}`);
      await page.close();
    }
    log(`${label}: ${entities} entities, first frame ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    print(`scene.first_frame_${label}_ms`, median(times), 'ms');
    print(`scene.entities_${label}`, entities, 'count');
  } finally {
    await server.stop();
  }
}

// Where the main thread's time goes: the page's own spans (scene::timing), collected while `window.__gestaltTiming`
// is an array, as medians per name.
function spans(entries) {
  const by = new Map();
  for (const [name, ms] of entries) by.set(name, [...(by.get(name) ?? []), ms]);
  return [...by.entries()].map(([name, xs]) => ({ name, count: xs.length, p50: median(xs), p95: quantile(xs, 0.95), total: xs.reduce((a, b) => a + b, 0) }));
}

async function frameTimes(page) {
  return page.evaluate((secs) => new Promise((resolve) => {
    const deltas = [];
    let last = performance.now();
    const end = last + secs * 1000;
    const tick = (now) => {
      deltas.push(now - last);
      last = now;
      if (now < end) requestAnimationFrame(tick); else resolve(deltas);
    };
    requestAnimationFrame(tick);
  }), FRAME_SECS);
}

// The page's JS heap after a full GC, and the wasm linear memory (found as WebAssembly.Memory objects).
async function memory(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  const proto = await cdp.send('Runtime.evaluate', { expression: 'WebAssembly.Memory.prototype' });
  const { objects } = await cdp.send('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId });
  const { result } = await cdp.send('Runtime.callFunctionOn', {
    objectId: objects.objectId,
    functionDeclaration: 'function () { return this.reduce((sum, m) => sum + m.buffer.byteLength, 0); }',
    returnByValue: true,
  });
  return { heap: usedSize / 2 ** 20, wasm: result.value / 2 ** 20 };
}

async function churning(browser) {
  // SCENE_CHURN_PODS sizes this run differently (the figures keep their 10k names), for comparisons.
  const pods = process.env.SCENE_CHURN_PODS ?? '7500';
  const server = await startServer(['demo', '--scenario', `scale:${pods}`], { timeoutMs: 120_000 });
  try {
    const page = await open(browser, `${server.url}/gestalt/live`);
    await page.evaluate(() => { window.__gestaltTiming = []; });
    const deltas = await frameTimes(page);
    const timings = spans(await page.evaluate(() => { const t = window.__gestaltTiming; delete window.__gestaltTiming; return t; }));
    log(`${deltas.length} frames in ${FRAME_SECS} s at ${await page.evaluate(() => document.querySelector('canvas').dataset.entities)} entities`);
    for (const t of timings) {
      log(`  ${t.name}: ${t.count}×, p50 ${t.p50.toFixed(1)} ms, p95 ${t.p95.toFixed(1)} ms, ${(t.total / FRAME_SECS / 10).toFixed(0)}% of the time`);
      if (['scene.set_topology', 'scene.sample', 'live.apply_diff'].includes(t.name)) print(`${t.name}_10k_ms`, t.p50, 'ms');
    }
    print('scene.frame_time_10k_ms', median(deltas), 'ms');
    print('scene.frame_time_10k_p95_ms', quantile(deltas, 0.95), 'ms');

    const cdp = await page.context().newCDPSession(page);
    const started = performance.now();
    const at = (minutes) => new Promise((resolve) => setTimeout(resolve, Math.max(0, started + minutes * 60_000 - performance.now())));
    await at(1);
    const early = await memory(cdp);
    log(`after 1 min: heap ${early.heap.toFixed(1)} MB, wasm ${early.wasm.toFixed(1)} MB; running to ${HEAP_MINUTES} min`);
    for (let minute = 2; minute <= HEAP_MINUTES; minute += 1) {
      await at(minute);
      const now = await memory(cdp);
      log(`after ${minute} min: heap ${now.heap.toFixed(1)} MB, wasm ${now.wasm.toFixed(1)} MB, seq ${await page.evaluate(() => document.querySelector('canvas').dataset.seq)}`);
      if (minute === HEAP_MINUTES) {
        print('scene.heap_1min_mb', early.heap, 'MB');
        print('scene.heap_end_mb', now.heap, 'MB');
        print('scene.heap_growth_pct', ((now.heap - early.heap) / early.heap) * 100, 'pct');
        print('scene.wasm_memory_1min_mb', early.wasm, 'MB');
        print('scene.wasm_memory_end_mb', now.wasm, 'MB');
      }
    }
    await page.close();
  } finally {
    await server.stop();
  }
}

const browser = await launchBrowser();
try {
  if (process.env.SCENE_SKIP_FIRST !== '1') for (const [label, pods] of SIZES) await firstFrames(browser, label, pods);
  await churning(browser);
} finally {
  await browser.close();
}
