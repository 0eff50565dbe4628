import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { validateJson } from '../../shared/events/validate';
import type { Finding } from '../../shared/findings';
import { topology } from '../../shared/topology';
import { buildDemo } from '../../cli/generate/demo';
import { compareWithFaults } from '../../tools/local/expected';
import { renderStackPage } from '../../tools/local/page';
import type { StackRun } from '../../tools/local/report';
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

  it('draws every axis label inside its chart (issue 20.11: the revenue axis read 7,548.68 for $27,548.68)', async () => {
    const page = await browser.newPage();
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
    const cut = await page.$$eval('svg.chart text', (texts) =>
      texts.flatMap((t) => {
        const box = t.getBoundingClientRect();
        const svg = (t as SVGTextElement).ownerSVGElement!.getBoundingClientRect();
        return box.left < svg.left - 0.5 || box.right > svg.right + 0.5 ? [t.textContent] : [];
      }),
    );
    expect(await page.locator('#revenue svg text').count()).toBeGreaterThan(0);
    expect(cut).toEqual([]);
  });

  it('needs nothing from the network: no external URL, no script', () => {
    const text = readFileSync(html, 'utf8');
    expect(text).not.toMatch(/\b(?:src|href)=["']?(?:https?:)?\/\//i);
    expect(text).not.toMatch(/<script/i);
    expect(text).not.toMatch(/@import|url\(/i);
  });
});

describe("the local stack's report page (the same page builder), in headless Chromium", () => {
  let dir: string;
  let browser: BrowserContext;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stack-page-test-'));
    browser = await launch(dir);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('draws a run of the stack: its counts, no card for what the stack cannot know, the charts, the verdict as a check', async () => {
    const demo = buildDemo({ now: Date.parse('2026-03-01T12:00:00Z') });
    const faults = [...demo.faults, ...demo.upstreamFaults];
    // The stack's topics as they are when every function found exactly what the faults should make.
    // A volume anomaly as volume-monitor words it: with the band it was judged by.
    const band = (kind: string) => (kind === 'volume_anomaly' ? { expected: 8, actual: 48, lower_bound: 0, upper_bound: 27.5 } : {});
    const findings = faults.flatMap((f) => f.expect.map((e) => ({ action: 'reported', ...e.match, ...band(e.match.kind), ...(e.reasonIncludes ? { reason: e.reasonIncludes } : {}) }) as Finding));
    const duplicates = new Set(findings.filter((f) => f.kind === 'duplicate').map((f) => f.event_id));
    const valid = demo.messages.map((m) => m.data).filter((text) => validateJson(text, { now: demo.now, maxFutureMs: 300_000 }).ok);
    const seen = new Set<string>();
    const unique = valid.filter((text) => {
      const id = (JSON.parse(text) as { id: string }).id;
      if (seen.has(id) || duplicates.has(id)) return false;
      seen.add(id);
      return true;
    });
    const served = topology.functions.map((f) => f.name);
    const run: StackRun = {
      projectId: 'p',
      demo,
      published: demo.messages.length,
      counts: {},
      findings,
      comparison: compareWithFaults(faults, findings, new Set(served)),
      functions: topology.functions.map(({ name }) => ({ name, served: served.includes(name) })),
      logDir: join(dir, 'logs'),
      timings: { startupMs: 1, processingMs: 1, totalMs: 2 },
    };
    const page = join(dir, 'report.html');
    writeFileSync(page, renderStackPage(run, { raw: demo.messages.map((m) => m.data), valid, unique, corrected: [] }, 'PASS  the verdict line'));

    const tab = await browser.newPage();
    const problems: string[] = [];
    tab.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    tab.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await tab.goto(pathToFileURL(page).href, { waitUntil: 'load' });
    const shown = Object.fromEntries(await tab.$$eval('[data-summary] > b', (bs) => bs.map((b) => [b.parentElement!.getAttribute('data-summary'), b.textContent])));
    const count = (kind: string) => String(findings.filter((f) => f.kind === kind).length);
    expect(shown).toEqual({
      lines: String(demo.messages.length),
      accepted: String(unique.length),
      invalid: count('invalid'),
      duplicates: count('duplicate'),
      gaps: count('gap'),
      missing_events: expect.any(String),
      chains_broken: count('chain_broken'),
      late: count('late'),
      corrections: '0',
      review: String(findings.filter((f) => f.action === 'review').length),
    });
    expect(await tab.textContent('[data-summary="lines"]')).toContain('messages');
    expect(await tab.textContent('[data-summary="findings"]')).toContain(`${findings.length} findings in ${demo.messages.length} messages`);
    expect(await tab.textContent('body')).toContain('PASS  the verdict line');
    expect(await tab.locator('#findings-over-time svg rect[fill]').count()).toBeGreaterThan(0);
    expect(await tab.locator('#volume [data-series]').count()).toBe(new Set(unique.map((t) => (JSON.parse(t) as { type: string }).type)).size);
    expect(await tab.locator('#top-findings tbody tr').count()).toBeGreaterThan(10);
    // The demo's discount storm: its hour drawn flagged, with the band volume-monitor judged it by.
    expect(await tab.locator('#volume [data-series="discount.issued"] rect.band').count()).toBe(1);
    expect(problems).toEqual([]);
    const shot = await tab.screenshot({ fullPage: true });
    if (process.env.STACK_PAGE_SCREENSHOT) writeFileSync(process.env.STACK_PAGE_SCREENSHOT, shot);
    expect(shot.readUInt32BE(20)).toBeGreaterThan(1500);
  });
});
