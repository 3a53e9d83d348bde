#!/usr/bin/env node
// Runs the demo's Speed tab in headless Chromium (Debian's, WebGPU on whatever adapter it finds) and
// prints its table. Build first. Usage: node scripts/speed.mjs [S,M,L]   (default S,M)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const sizes = (process.argv[2] ?? 'S,M').split(',');
const server = await serve({ port: 0 });
const userDataDir = mkdtempSync(join(tmpdir(), 'recurrent-demo-speed-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(0);
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#tab-speed');
  for (const size of ['S', 'M', 'L']) await page.setChecked(`#speed-size-${size}`, sizes.includes(size));
  await page.click('#speed-run');
  await page.waitForFunction(() => /^Done/.test(document.getElementById('speed-progress')?.textContent ?? '') || !document.getElementById('speed-error')?.hidden);
  const error = await page.$eval('#speed-error', (e) => (e.hidden ? '' : e.textContent));
  if (error) throw new Error(error);
  const rows = await page.$$eval('#speed-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  console.log(`crossOriginIsolated: ${await page.evaluate(() => crossOriginIsolated)}`);
  console.log(['size', 'engine', 'ran as', 'ms/forward', 'GFLOP/s'].join('\t'));
  for (const row of rows) console.log(row.join('\t'));
} finally {
  await context.close();
  await server.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
