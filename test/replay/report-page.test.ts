import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { CHROMIUM } from '../support/chromium';
import { readOutputs } from '../support/replay';

const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

/** Headless Debian Chromium, no network, a fresh profile: the page must stand on its own. */
async function launch(dir: string): Promise<BrowserContext> {
  // A fresh --user-data-dir: playwright takes it as the persistent context's folder.
  return chromium.launchPersistentContext(mkdtempSync(join(dir, 'profile-')), {
    executablePath: CHROMIUM,
    viewport: { width: 1000, height: 900 },
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

describe('the report page (replay --html), in headless Chromium', () => {
  let dir: string;
  let browser: BrowserContext;
  let html: string;
  let out: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'page-test-'));
    const demo = join(dir, 'demo.ndjson');
    const g = cli('generate', '--out', demo);
    expect(g.status).toBe(0);
    const now = /--now (\S+)/.exec(g.stderr)![1]!;
    html = join(dir, 'report.html');
    out = join(dir, 'out');
    const r = cli('replay', demo, '--rates', join(dir, 'demo.rates.json'), '--now', now, '--out', out, '--html', html, '--quiet');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    browser = await launch(dir);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('renders with no request beyond the file, no console error, and shows the counts of summary.json', async () => {
    const page = await browser.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    await page.route('**/*', (route) => {
      requests.push(route.request().url());
      return route.request().url().startsWith('file:') ? route.continue() : route.abort();
    });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });

    const summary = readOutputs(out).summary;
    const shown = await page.$$eval('[data-summary] > b', (bs) => bs.map((b) => [b.parentElement!.getAttribute('data-summary'), b.textContent]));
    const expected = ['lines', 'accepted', 'invalid', 'duplicates', 'gaps', 'missing_events', 'chains_broken', 'late', 'corrections', 'review', 'pending'].map((k) => [
      k,
      (summary[k as keyof typeof summary] as number).toLocaleString('en-US'),
    ]);
    expect(shown).toEqual(expected);
    const verdict = await page.textContent('[data-summary="findings"]');
    const total = Object.values(summary.findings_by_kind).reduce((a, b) => a + b, 0);
    expect(verdict).toContain(`${total} findings in ${summary.lines} lines`);
    for (const [kind, count] of Object.entries(summary.findings_by_kind)) expect(verdict).toContain(`${kind} ${count}`);
    expect(await page.textContent('[data-summary="revenue"]')).toContain(`$${(summary.revenue_usd_cents.corrected / 100).toLocaleString('en-US', { minimumFractionDigits: 2 })}`);

    // Pictures: a chart of findings, one volume chart per series that had events, the revenue lines.
    expect(await page.locator('#findings-over-time svg rect[fill]').count()).toBeGreaterThan(0);
    expect(await page.locator('#volume [data-series]').count()).toBe(8);
    expect(await page.locator('#revenue svg polyline').count()).toBe(2);
    expect(await page.locator('#top-findings tbody tr').count()).toBeGreaterThan(10);
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(html).href]);

    const shot = await page.screenshot({ fullPage: true });
    writeFileSync(join(dir, 'report.png'), shot);
    if (process.env.REPORT_PAGE_SCREENSHOT) writeFileSync(process.env.REPORT_PAGE_SCREENSHOT, shot);
    const blank = await browser.newPage();
    await blank.setContent('<!doctype html><body style="background:#fff"></body>');
    const empty = await blank.screenshot({ fullPage: true });
    // PNG: width and height at bytes 16-23 of the IHDR chunk.
    expect(shot.readUInt32BE(16)).toBe(1000);
    expect(shot.readUInt32BE(20)).toBeGreaterThan(1500);
    expect(shot.length).toBeGreaterThan(20 * empty.length);
  });

  it('needs nothing from the network: no external URL, no script', () => {
    const text = readFileSync(html, 'utf8');
    expect(text).not.toMatch(/\b(?:src|href)=["']?(?:https?:)?\/\//i);
    expect(text).not.toMatch(/<script/i);
    expect(text).not.toMatch(/@import|url\(/i);
  });
});
